// The seam's entries replaced by ones that fail on demand.
#include "fault.h"

#include "sys.h"

#include <cerrno>
#include <cstring>
#include <string_view>

namespace lw::test {

namespace {

std::atomic<int> gError{0};
std::atomic<std::uint64_t> gHits{0};
FaultStage gStage = FaultStage::List;
sys::Ops gSaved;

bool failing(FaultStage stage)
{
	int err = gError.load();
	if (err == 0 || stage != gStage)
		return false;
	++gHits;
	errno = err;
	return true;
}

bool isItemFile(const char *path)
{
	std::string_view p(path ? path : "");
	p = p.substr(p.rfind('/') + 1); // "<id>/manifest" as well as "manifest"
	for (std::string_view name : {"layer.json", "images.json", "manifest", "link", "lower"})
		if (p == name)
			return true;
	return false;
}

ssize_t faultyGetdents(int fd, void *buf, size_t count)
{
	return failing(FaultStage::List) ? -1 : gSaved.getdents64(fd, buf, count);
}

int faultyStatx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
	return failing(FaultStage::Stat) ? -1 : gSaved.statx(dirfd, path, flags, mask, out);
}

int faultyOpenat(int dirfd, const char *path, int flags, mode_t mode)
{
	return isItemFile(path) && failing(FaultStage::Open) ? -1 : gSaved.openat(dirfd, path, flags, mode);
}

ssize_t faultyRead(int fd, void *buf, size_t count)
{
	return failing(FaultStage::Read) ? -1 : gSaved.read(fd, buf, count);
}

} // namespace

const char *faultStageName(FaultStage stage)
{
	switch (stage) {
	case FaultStage::List:
		return "listing";
	case FaultStage::Stat:
		return "statx";
	case FaultStage::Open:
		return "open";
	case FaultStage::Read:
		return "read";
	}
	return "?";
}

Fault::Fault(FaultStage stage)
{
	gSaved = sys::ops();
	gStage = stage;
	gHits = 0;
	gError = 0;
	sys::ops().getdents64 = faultyGetdents;
	sys::ops().statx = faultyStatx;
	sys::ops().openat = faultyOpenat;
	sys::ops().read = faultyRead;
}

Fault::~Fault()
{
	gError = 0;
	sys::ops() = gSaved;
}

void Fault::arm(int error)
{
	gError = error;
}

void Fault::clear()
{
	gError = 0;
}

std::uint64_t Fault::hits() const
{
	return gHits;
}

} // namespace lw::test

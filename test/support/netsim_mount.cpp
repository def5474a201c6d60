// Mounting the simulator for a test, and reading its counts.
#include "netsim_mount.h"

#include "test_support.h"

#include <sys/mount.h>

#include <fmt/format.h>

#include <fstream>
#include <iterator>

namespace lw::test {

std::string netsimPath()
{
	return LW_NETSIM_PATH;
}

NetsimMount::NetsimMount(const std::string &from, const std::string &to, NetsimOptions options) : to_(to)
{
	makeDirs(to);
	if (netsimPath().empty())
		return;
	std::string command = fmt::format("{} --delay-us={} --attr-timeout={} --entry-timeout={} {} {} {} {} 2>/dev/null",
					  netsimPath(), options.delayUs, options.attrTimeout, options.attrTimeout,
					  options.cacheReaddir ? "--cache-readdir" : "",
					  options.coarseTimes ? "--coarse-times" : "", from, to);
	mounted_ = run(command) == 0;
}

NetsimMount::~NetsimMount()
{
	if (mounted_)
		::umount2(to_.c_str(), MNT_DETACH);
}

std::uint64_t NetsimMount::operations() const
{
	std::ifstream in(to_ + "/.netsim-stats");
	std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	auto at = text.find("\"total\":");
	return at == std::string::npos ? 0 : std::stoull(text.substr(at + 8));
}

void NetsimMount::resetCounts()
{
	const_cast<NetsimMount *>(this)->control("reset");
}

void NetsimMount::control(const std::string &command)
{
	std::ofstream out(to_ + "/.netsim-control");
	out << command << "\n";
}

} // namespace lw::test

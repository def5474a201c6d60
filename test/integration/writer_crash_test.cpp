// A writer killed at every step: a child process runs a pull (or a removal) with the
// syscall seam set to kill it at its Nth call, for N = 0, 1, 2 ... until it finishes.
// After each kill a scan must show nothing half-made as ready, and the next writer
// must finish (or undo) the work and leave no leftover behind.
#include "sys.h"
#include "test_support.h"

#include <layerwatch/paths.h>
#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <sys/wait.h>
#include <unistd.h>

using namespace lw;

namespace {

constexpr int kKilled = 86;
long gCallsLeft = 0;
sys::Ops gReal;

void step()
{
	if (gCallsLeft-- == 0)
		::_exit(kKilled); // as sudden as SIGKILL: no destructor, no flush
}

// Every entry of the seam counts as one step.
void killAtCall(long n)
{
	gReal = sys::ops();
	gCallsLeft = n;
	auto &o = sys::ops();
	o.openat = [](int d, const char *p, int f, mode_t m) { return step(), gReal.openat(d, p, f, m); };
	o.openat2Beneath = [](int d, const char *p, int f, mode_t m) { return step(), gReal.openat2Beneath(d, p, f, m); };
	o.read = [](int fd, void *b, size_t n) { return step(), gReal.read(fd, b, n); };
	o.write = [](int fd, const void *b, size_t n) { return step(), gReal.write(fd, b, n); };
	o.fstat = [](int fd, struct stat *st) { return step(), gReal.fstat(fd, st); };
	o.fstatat = [](int d, const char *p, struct stat *st, int f) { return step(), gReal.fstatat(d, p, st, f); };
	o.readlinkat = [](int d, const char *p, char *b, size_t n) { return step(), gReal.readlinkat(d, p, b, n); };
	o.symlinkat = [](const char *t, int d, const char *p) { return step(), gReal.symlinkat(t, d, p); };
	o.renameat2 = [](int a, const char *p, int b, const char *q, unsigned f) {
		return step(), gReal.renameat2(a, p, b, q, f);
	};
	o.unlinkat = [](int d, const char *p, int f) { return step(), gReal.unlinkat(d, p, f); };
	o.mkdirat = [](int d, const char *p, mode_t m) { return step(), gReal.mkdirat(d, p, m); };
	o.fsync = [](int fd) { return step(), gReal.fsync(fd); };
	o.statx = [](int d, const char *p, int f, unsigned m, struct statx *out) {
		return step(), gReal.statx(d, p, f, m, out);
	};
	o.getdents64 = [](int fd, void *b, size_t n) { return step(), gReal.getdents64(fd, b, n); };
}

// Runs work in a child killed at its nth seam call. True if it was killed.
bool killedAt(long n, const std::function<bool()> &work)
{
	pid_t pid = ::fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		killAtCall(n);
		::_exit(work() ? 0 : 1);
	}
	int status = 0;
	REQUIRE(::waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status));
	REQUIRE(WEXITSTATUS(status) != 1); // the work itself failed, unkilled
	return WEXITSTATUS(status) == kKilled;
}

const std::string kBase = std::string(64, 'b'), kTop = std::string(64, 'c');

ImageSpec imageSpec()
{
	return {.topLayer = kTop, .names = {"app:1"}, .created = "2026-11-29T00:00:00.000000000Z"};
}

bool pull(StoreWriter &w, std::string *image)
{
	auto added = w.addLayer({.id = kTop, .parent = kBase, .link = std::string(26, 'c')});
	if (!added && added.error().code == EEXIST)
		added = w.linkLayer(kTop);
	if (!added)
		return false;
	auto published = w.publishImage(imageSpec());
	if (!published && published.error().code == EEXIST)
		return true;
	if (published && image)
		*image = *published;
	return published.ok();
}

bool removal(StoreWriter &w, const std::string &image)
{
	auto gone = [](const Result<void> &r) { return r || r.error().code == ENOENT; };
	return gone(w.removeImage(image)) && gone(w.removeLayer(kTop));
}

// Names the writer's own temporary entries left anywhere below root.
std::vector<std::string> leftovers(const std::string &root)
{
	std::vector<std::string> out;
	for (const auto &[path, what] : lw::test::snapshotTree(root)) {
		std::string name = path.substr(path.rfind('/') + 1);
		if (name.starts_with(".tmp-") || name.starts_with(".trash-"))
			out.push_back(path);
	}
	return out;
}

struct Seen {
	bool imageReady = false, topReady = false;
};

// What any scan must show after a kill: the base untouched, and nothing half-made
// ready (a ready image is the whole image, on a ready chain).
Seen checkNothingHalfMade(const std::string &root, const std::string &image)
{
	auto report = lw::test::unwrap(scanStore(root));
	CHECK(report.errors.empty());
	Seen seen;
	bool baseReady = false;
	for (const auto &layer : report.layers) {
		baseReady = baseReady || layer->id == kBase;
		seen.topReady = seen.topReady || layer->id == kTop;
	}
	CHECK(baseReady);
	for (const auto &scanned : report.images) {
		REQUIRE(scanned.image->id == image);
		CHECK(scanned.image->names == std::vector<std::string>{"app:1"});
		REQUIRE(scanned.chain.size() == 2);
		CHECK(scanned.chain[0]->id == kTop);
		seen.imageReady = true;
	}
	return seen;
}

struct Share {
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	StoreWriter writer = lw::test::unwrap(StoreWriter::open(root));
	std::string image;
	Share() { lw::test::unwrap(writer.addLayer({.id = kBase, .link = std::string(26, 'b')})); }
};

} // namespace

TEST_CASE("a pull killed at any syscall leaves nothing ready half-made, and the next writer finishes it")
{
	std::string image = sha256Digest(R"({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:)" +
					 kTop + "\"]}}").substr(7);
	long n = 0;
	for (bool killed = true; killed; ++n) {
		INFO("killed at seam call " << n);
		Share store;
		killed = killedAt(n, [&] {
			auto w = StoreWriter::open(store.root);
			return w && pull(*w, nullptr);
		});
		Seen seen = checkNothingHalfMade(store.root, image);
		if (seen.imageReady)
			CHECK(seen.topReady);

		// The next writer: the same pull again, then the leftovers swept.
		std::string published;
		REQUIRE(pull(store.writer, &published));
		CHECK(lw::test::unwrap(store.writer.removeLeftovers(0)) >= 0);
		CHECK(leftovers(store.root).empty());
		auto after = checkNothingHalfMade(store.root, image);
		CHECK(after.imageReady);
		CHECK(lw::test::readLinkAt(store.root + "/overlay/l/" + std::string(26, 'c')) == "../" + kTop + "/diff");
		REQUIRE(n < 5000);
	}
	MESSAGE("a pull: killed at each of its " << n - 1 << " seam calls in turn");
	CHECK(n > 20);
}

TEST_CASE("a removal killed at any syscall leaves nothing ready half-made, and the next writer finishes it")
{
	long n = 0;
	for (bool killed = true; killed; ++n) {
		INFO("killed at seam call " << n);
		Share store;
		REQUIRE(pull(store.writer, &store.image));
		killed = killedAt(n, [&] {
			auto w = StoreWriter::open(store.root);
			return w && removal(*w, store.image);
		});
		Seen seen = checkNothingHalfMade(store.root, store.image);
		if (seen.imageReady)
			CHECK(seen.topReady);

		REQUIRE(removal(store.writer, store.image));
		CHECK(lw::test::unwrap(store.writer.removeLeftovers(0)) >= 0);
		CHECK(leftovers(store.root).empty());
		auto after = checkNothingHalfMade(store.root, store.image);
		CHECK_FALSE(after.imageReady);
		CHECK_FALSE(after.topReady);
		auto report = lw::test::unwrap(scanStore(store.root));
		CHECK(report.pending.empty());
		CHECK_FALSE(lw::test::exists(store.root + "/overlay/l/" + std::string(26, 'c')));
		CHECK(lw::test::readLinkAt(store.root + "/overlay/l/" + std::string(26, 'b')) == "../" + kBase + "/diff");
		REQUIRE(n < 5000);
	}
	MESSAGE("a removal: killed at each of its " << n - 1 << " seam calls in turn");
	CHECK(n > 10);
}

// Reads below a root: no symlink followed, caps, and injected syscall failures.
#include "test_support.h"

#include "fs_write.h"
#include "safe_fs.h"
#include "sys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>

using namespace lw;
using lw::test::TempDir;

namespace {

UniqueFd openRoot(const std::string &path)
{
	return UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

int failOpenat2(int, const char *, int, mode_t)
{
	errno = ENOSYS;
	return -1;
}

// Both resolution strategies must hold the same line.
void forEachStrategy(const std::function<void()> &body)
{
	SUBCASE("openat2") { body(); }
	SUBCASE("component walk (no openat2)")
	{
		sys::ScopedOp guard(&sys::Ops::openat2Beneath, &failOpenat2);
		body();
	}
}

} // namespace

TEST_CASE("openBeneath never follows a symlink or leaves the root")
{
	TempDir tmp;
	lw::test::makeDirs(tmp / "root/a/b");
	lw::test::makeDirs(tmp / "outside");
	lw::test::writeFile(tmp / "outside/secret", "secret");
	lw::test::writeFile(tmp / "root/a/b/file", "ok");
	lw::test::makeSymlink(tmp / "outside", tmp / "root/a/escape");
	lw::test::makeSymlink("b", tmp / "root/a/inner");
	auto root = openRoot(tmp / "root");

	forEachStrategy([&] {
		auto ok = fs::openBeneath(root.get(), "a/b/file", O_RDONLY);
		REQUIRE_MESSAGE(ok.ok(), ok.error().message);
		CHECK_FALSE(fs::openBeneath(root.get(), "a/escape/secret", O_RDONLY).ok());
		CHECK_FALSE(fs::openDir(root.get(), "a/escape").ok());
		CHECK_FALSE(fs::openDir(root.get(), "a/inner").ok());     // even one that stays inside
		CHECK_FALSE(fs::openBeneath(root.get(), "a/inner", O_PATH).ok());
		CHECK_FALSE(fs::openBeneath(root.get(), "../root/a", O_RDONLY).ok());
		CHECK_FALSE(fs::openBeneath(root.get(), "a/../../outside", O_RDONLY).ok());
		CHECK_FALSE(fs::openBeneath(root.get(), tmp / "outside", O_RDONLY).ok());
		auto err = fs::openDir(root.get(), "a/escape");
		CHECK(err.error().message.find("a/escape") != std::string::npos);
	});
}

TEST_CASE("readRegularFile refuses what is not a plain file, and caps the size")
{
	TempDir tmp;
	lw::test::writeFile(tmp / "small", "hello");
	lw::test::writeFile(tmp / "big", std::string(2 << 20, 'x'));
	lw::test::makeSymlink("small", tmp / "link");
	REQUIRE(::mkfifo((tmp / "fifo").c_str(), 0644) == 0);
	::mkdir((tmp / "dir").c_str(), 0755);
	auto dir = openRoot(tmp.path());

	CHECK(*fs::readRegularFile(dir.get(), "small", 100) == "hello");
	auto big = fs::readRegularFile(dir.get(), "big", 1 << 20);
	REQUIRE_FALSE(big.ok());
	CHECK(big.error().message == "big: larger than 1048576 bytes");
	CHECK(fs::readRegularFile(dir.get(), "link", 100).error().message == "link: is a symlink");
	// A FIFO would block an open forever: it must be refused before opening.
	CHECK(fs::readRegularFile(dir.get(), "fifo", 100).error().message == "fifo: not a regular file");
	CHECK(fs::readRegularFile(dir.get(), "dir", 100).error().message == "dir: not a regular file");
	CHECK(fs::readRegularFile(dir.get(), "missing", 100).error().message == "missing: missing");
	CHECK_FALSE(fs::readRegularFile(dir.get(), "../small", 100).ok());
}

TEST_CASE("readRegularFile reads an item's file by its path, and refuses a second name")
{
	TempDir tmp;
	lw::test::makeDirs(tmp / "item");
	lw::test::writeFile(tmp / "item/manifest", "{}");
	lw::test::writeFile(tmp / "outside", "secret");
	auto dir = openRoot(tmp.path());
	struct stat looked;
	REQUIRE(::fstatat(dir.get(), "item/manifest", &looked, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(*fs::readRegularFile(dir.get(), "item/manifest", 100, looked) == "{}");
	CHECK(fs::readRegularFile(dir.get(), "item/../outside", 100, looked).error().code == EINVAL);
	CHECK(fs::readRegularFile(dir.get(), "item//manifest", 100, looked).error().code == EINVAL);

	// A hard link carries a file from anywhere the share's writer can reach.
	REQUIRE(::link((tmp / "outside").c_str(), (tmp / "item/layer.json").c_str()) == 0);
	auto linked = fs::readRegularFile(dir.get(), "item/layer.json", 100);
	CHECK(linked.error().code == EINVAL); // one component only without a look
	REQUIRE(::fstatat(dir.get(), "item/layer.json", &looked, AT_SYMLINK_NOFOLLOW) == 0);
	linked = fs::readRegularFile(dir.get(), "item/layer.json", 100, looked);
	REQUIRE_FALSE(linked.ok());
	CHECK(linked.error().code == EMLINK);
	CHECK(linked.error().message == "layer.json: has 2 names (a hard link), refused");

	// A folder swapped for a symlink between the look and the read.
	REQUIRE(::fstatat(dir.get(), "item/manifest", &looked, AT_SYMLINK_NOFOLLOW) == 0);
	lw::test::makeDirs(tmp / "elsewhere");
	lw::test::writeFile(tmp / "elsewhere/manifest", "{}");
	REQUIRE(::rename((tmp / "item").c_str(), (tmp / "moved").c_str()) == 0);
	lw::test::makeSymlink("elsewhere", tmp / "item");
	CHECK(fs::readRegularFile(dir.get(), "item/manifest", 100, looked).error().code == EAGAIN);
}

namespace {

int g_eintrLeft = 0;
ssize_t interruptedShortRead(int fd, void *buf, size_t count)
{
	if (g_eintrLeft > 0) {
		--g_eintrLeft;
		errno = EINTR;
		return -1;
	}
	return ::read(fd, buf, count < 3 ? count : 3); // a short read every time
}

// A file that grows between the stat and the read (as on NFS) must still be capped.
ssize_t endlessRead(int, void *buf, size_t count)
{
	std::memset(buf, 'x', count);
	return static_cast<ssize_t>(count);
}

} // namespace

TEST_CASE("reads retry EINTR, survive short reads and stay capped")
{
	TempDir tmp;
	lw::test::writeFile(tmp / "f", "0123456789");
	auto dir = openRoot(tmp.path());
	{
		g_eintrLeft = 5;
		sys::ScopedOp guard(&sys::Ops::read, &interruptedShortRead);
		auto r = fs::readRegularFile(dir.get(), "f", 100);
		REQUIRE(r.ok());
		CHECK(*r == "0123456789");
		CHECK(g_eintrLeft == 0);
	}
	{
		sys::ScopedOp guard(&sys::Ops::read, &endlessRead);
		auto r = fs::readRegularFile(dir.get(), "f", 1000);
		REQUIRE_FALSE(r.ok());
		CHECK(r.error().code == EFBIG);
	}
}

namespace {

ssize_t noSpace(int, const void *, size_t)
{
	errno = ENOSPC;
	return -1;
}

} // namespace

TEST_CASE("a failed atomic write leaves neither the file nor a temporary")
{
	TempDir tmp;
	auto dir = openRoot(tmp.path());
	{
		sys::ScopedOp guard(&sys::Ops::write, &noSpace);
		auto r = fs::writeFileAtomic(dir.get(), "out", "data", true);
		REQUIRE_FALSE(r.ok());
		CHECK(r.error().code == ENOSPC);
		CHECK(r.error().message == "out: No space left on device");
	}
	CHECK(lw::test::snapshotTree(tmp.path()).empty());
	REQUIRE(fs::writeFileAtomic(dir.get(), "out", "data", true).ok());
	CHECK(lw::test::snapshotTree(tmp.path()) == std::map<std::string, std::string>{{"out", "f:data"}});
}

TEST_CASE("removeTree removes a symlink, never what it points to")
{
	TempDir tmp;
	lw::test::makeDirs(tmp / "outside");
	lw::test::writeFile(tmp / "outside/keep", "keep");
	lw::test::makeDirs(tmp / "victim/sub");
	lw::test::writeFile(tmp / "victim/sub/file", "x");
	lw::test::makeSymlink(tmp / "outside", tmp / "victim/sub/escape");
	auto dir = openRoot(tmp.path());
	REQUIRE(fs::removeTree(dir.get(), "victim").ok());
	CHECK_FALSE(lw::test::exists(tmp / "victim"));
	CHECK(lw::test::readFile(tmp / "outside/keep") == "keep");
}

TEST_CASE("a file read on an earlier look must still be the file looked at")
{
	TempDir tmp;
	lw::test::writeFile(tmp / "f", "first");
	auto dir = openRoot(tmp.path());
	struct stat looked;
	REQUIRE(::lstat((tmp / "f").c_str(), &looked) == 0);
	CHECK(*fs::readRegularFile(dir.get(), "f", 100, looked) == "first");
	// Replaced after the look (a new inode under the same name): refused.
	lw::test::writeFile(tmp / "g", "second");
	REQUIRE(::rename((tmp / "g").c_str(), (tmp / "f").c_str()) == 0);
	auto swapped = fs::readRegularFile(dir.get(), "f", 100, looked);
	REQUIRE_FALSE(swapped.ok());
	CHECK(swapped.error().message == "f: replaced while being read");
	// A look that saw a FIFO or nothing: refused without opening anything.
	struct stat fifo = {};
	fifo.st_mode = S_IFIFO | 0644;
	CHECK(fs::readRegularFile(dir.get(), "f", 100, fifo).error().message == "f: not a regular file");
	struct stat absent = {};
	CHECK(fs::readRegularFile(dir.get(), "f", 100, absent).error().message == "f: missing");
}

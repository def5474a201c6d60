// The writing side: the layout of DESIGN.md section 1, read back by the model.
#include "test_support.h"

#include "sys.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>
#include <layerwatch/writer.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <limits>
#include <set>
#include <thread>
#include <tuple>
#include <unistd.h>

using namespace lw;
using lw::test::exists;
using lw::test::readFile;
using lw::test::readLinkAt;
using lw::test::TempDir;
using lw::test::unwrap;

namespace {

std::vector<std::string> g_renamedTo;
int recordingRename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags)
{
	g_renamedTo.emplace_back(newpath);
	return ::renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

bool isDir(const std::string &path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

TEST_CASE("a store written by the writer matches DESIGN.md section 1 and reads back exactly")
{
	TempDir tmp;
	std::string root = tmp / "storage";
	auto writer = unwrap(StoreWriter::open(root, {.durable = false}));
	std::string base = lw::test::makeId(), child = lw::test::makeId();

	LayerSpec baseSpec{.id = base, .names = {"base"}, .link = std::string(26, 'b'), .diffSize = 10};
	baseSpec.fillDiff = [](int diffFd) -> Result<void> {
		int fd = ::openat(diffFd, "hello", O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			return makeError(errno, "hello");
		::close(fd);
		return {};
	};
	unwrap(writer.addLayer(baseSpec));
	unwrap(writer.addLayer({.id = child, .parent = base, .link = std::string(26, 'c')}));

	g_renamedTo.clear();
	std::string imageId;
	{
		sys::ScopedOp guard(&sys::Ops::renameat2, &recordingRename);
		imageId = unwrap(writer.publishImage({.topLayer = child, .names = {"busybox:latest"},
						      .layerDigests = {"sha256:" + base, "sha256:" + child}}));
	}
	// The manifest is the commit marker: the last file of the image to appear; only
	// the generation file is touched after it.
	REQUIRE(g_renamedTo.size() >= 2);
	CHECK(g_renamedTo.back() == ".layerwatch-generation");
	CHECK(g_renamedTo[g_renamedTo.size() - 2] == "manifest");
	CHECK(g_renamedTo.front() == "images.json");

	// Shared trees: real folders and files.
	for (const auto &id : {base, child}) {
		CHECK(isDir(root + "/overlay/RO/" + id));
		CHECK(isDir(root + "/overlay/RO/" + id + "/diff"));
		CHECK(isDir(root + "/overlay-layers/RO/" + id));
		CHECK(exists(root + "/overlay-layers/RO/" + id + "/" + id + ".tar-split.gz"));
		// Local links, relative.
		CHECK(readLinkAt(root + "/overlay/" + id) == "RO/" + id);
		CHECK(readLinkAt(root + "/overlay-layers/" + id) == "RO/" + id);
	}
	CHECK(exists(root + "/overlay/RO/" + base + "/diff/hello"));
	CHECK(isDir(root + "/overlay/RO/" + base + "/empty"));
	CHECK_FALSE(exists(root + "/overlay/RO/" + base + "/lower"));
	CHECK_FALSE(exists(root + "/overlay/RO/" + child + "/empty"));
	CHECK(readLinkAt(root + "/overlay/l/" + std::string(26, 'b')) == "../" + base + "/diff");
	CHECK(readLinkAt(root + "/overlay/l/" + std::string(26, 'c')) == "../" + child + "/diff");
	CHECK(isDir(root + "/overlay/l/" + std::string(26, 'c') + "/")); // resolves through the links

	// Read back by the model.
	CHECK(*parseLinkFile(readFile(root + "/overlay/RO/" + child + "/link")) == std::string(26, 'c'));
	CHECK(*parseLowerFile(readFile(root + "/overlay/RO/" + child + "/lower")) ==
	      std::vector<std::string>{std::string(26, 'b')});
	auto baseRecord = unwrap(parseLayerJson(readFile(root + "/overlay-layers/RO/" + base + "/layer.json")));
	CHECK(baseRecord.id == base);
	CHECK(baseRecord.parent.empty());
	CHECK(baseRecord.names == std::vector<std::string>{"base"});
	CHECK(baseRecord.diffSize == 10);
	CHECK(baseRecord.diffDigest == "sha256:" + base);
	auto childRecord = unwrap(parseLayerJson(readFile(root + "/overlay-layers/RO/" + child + "/layer.json")));
	CHECK(childRecord.parent == base);
	CHECK_FALSE(childRecord.writable);
	CHECK_FALSE(childRecord.incomplete);

	std::string imageDir = root + "/overlay-images/" + imageId;
	auto image = unwrap(parseImageJson(readFile(imageDir + "/images.json")));
	CHECK(image.id == imageId);
	CHECK(image.layer == child);
	CHECK(image.names == std::vector<std::string>{"busybox:latest"});
	auto manifest = unwrap(parseManifest(readFile(imageDir + "/manifest")));
	CHECK(manifest.configDigest == "sha256:" + imageId);
	CHECK(manifest.layerDigests.size() == 2);
	for (const auto &key : image.bigDataNames) {
		INFO(key);
		auto content = readFile(imageDir + "/" + bigDataFileName(key));
		CHECK(image.bigDataSizes[key] == static_cast<std::int64_t>(content.size()));
	}
	CHECK(image.digest == image.bigDataDigests["manifest"]);
	// The config key is stored as "=" + base64, as iSulad does.
	CHECK(exists(imageDir + "/" + bigDataFileName("sha256:" + imageId)));
	CHECK(bigDataFileName("sha256:" + imageId).front() == '=');

	// Nothing else: no temporary left anywhere.
	for (const auto &[path, what] : lw::test::snapshotTree(root)) {
		INFO(path);
		CHECK(path.find(".tmp-") == std::string::npos);
	}
}

TEST_CASE("bad ids and existing targets give clear errors")
{
	TempDir tmp;
	auto writer = unwrap(StoreWriter::open(tmp / "s", {.durable = false}));
	auto bad = writer.addLayer({.id = "../" + std::string(61, 'a')});
	REQUIRE_FALSE(bad.ok());
	CHECK(bad.error().message.find("not 64 lowercase hex") != std::string::npos);
	CHECK_FALSE(writer.addLayer({.id = std::string(64, 'A')}).ok());
	CHECK_FALSE(writer.addLayer({.id = std::string(63, 'a')}).ok());
	CHECK_FALSE(writer.addLayer({.id = std::string(64, 'a'), .link = "a/b"}).ok());
	CHECK_FALSE(writer.addLayer({.id = std::string(64, 'a'), .parent = std::string(64, 'a')}).ok());

	std::string id = lw::test::makeId();
	unwrap(writer.addLayer({.id = id}));
	auto again = writer.addLayer({.id = id});
	REQUIRE_FALSE(again.ok());
	CHECK(again.error().code == EEXIST);
	CHECK(again.error().message == "overlay/RO/" + id + ": exists");

	auto orphan = writer.addLayer({.id = lw::test::makeId(), .parent = lw::test::makeId()});
	REQUIRE_FALSE(orphan.ok());
	CHECK(orphan.error().message.find("parent") != std::string::npos);

	auto imageId = unwrap(writer.publishImage({.topLayer = id}));
	auto twice = writer.publishImage({.topLayer = id});
	REQUIRE_FALSE(twice.ok());
	CHECK(twice.error().code == EEXIST);
	CHECK_FALSE(writer.publishImage({.topLayer = "nope"}).ok());
	CHECK(imageId.size() == 64);
}

namespace {

const char *g_failOn = nullptr;
int failingRename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags)
{
	if (g_failOn && std::string(newpath) == g_failOn) {
		errno = EIO;
		return -1;
	}
	return ::renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

} // namespace

TEST_CASE("a failed build leaves nothing half-made")
{
	TempDir tmp;
	std::string root = tmp / "s";
	auto writer = unwrap(StoreWriter::open(root, {.durable = false, .bumpGeneration = false}));
	auto before = lw::test::snapshotTree(root);
	std::string id = lw::test::makeId();
	sys::ScopedOp guard(&sys::Ops::renameat2, &failingRename);
	for (const char *step : {"link", "layer.json"}) {
		g_failOn = step;
		INFO(step);
		auto r = writer.addLayer({.id = id});
		REQUIRE_FALSE(r.ok());
		CHECK(lw::test::snapshotTree(root) == before);
	}
	// The layer's own rename into place fails: both halves must be gone.
	std::string idName = id;
	g_failOn = idName.c_str();
	CHECK_FALSE(writer.addLayer({.id = id}).ok());
	CHECK(lw::test::snapshotTree(root) == before);

	g_failOn = nullptr;
	unwrap(writer.addLayer({.id = id}));
	auto withLayer = lw::test::snapshotTree(root);
	g_failOn = "manifest";
	CHECK_FALSE(writer.publishImage({.topLayer = id}).ok());
	CHECK(lw::test::snapshotTree(root) == withLayer);
	g_failOn = nullptr;
}

TEST_CASE("removal: links first, then data, and only links into RO/")
{
	TempDir tmp;
	std::string root = tmp / "s";
	auto writer = unwrap(StoreWriter::open(root, {.durable = false}));
	std::string id = lw::test::makeId(), rw = lw::test::makeId();
	unwrap(writer.addLayer({.id = id, .link = std::string(26, 'r')}));
	auto imageId = unwrap(writer.publishImage({.topLayer = id}));
	// A container RW layer beside it, with its own short link.
	lw::test::makeDirs(root + "/overlay/" + rw + "/diff");
	lw::test::makeDirs(root + "/overlay-layers/" + rw);
	lw::test::makeSymlink("../" + rw + "/diff", root + "/overlay/l/" + std::string(26, 'w'));

	unwrap(writer.removeImage(imageId));
	CHECK_FALSE(exists(root + "/overlay-images/" + imageId));
	unwrap(writer.removeLayer(id));
	CHECK_FALSE(exists(root + "/overlay/" + id));
	CHECK_FALSE(exists(root + "/overlay-layers/" + id));
	CHECK_FALSE(exists(root + "/overlay/l/" + std::string(26, 'r')));
	CHECK_FALSE(exists(root + "/overlay/RO/" + id));
	CHECK_FALSE(exists(root + "/overlay-layers/RO/" + id));
	CHECK(isDir(root + "/overlay/" + rw + "/diff"));
	CHECK(isDir(root + "/overlay-layers/" + rw));
	CHECK(readLinkAt(root + "/overlay/l/" + std::string(26, 'w')) == "../" + rw + "/diff");
	auto missing = writer.removeLayer(id);
	REQUIRE_FALSE(missing.ok());
	CHECK(missing.error().code == ENOENT);
}

TEST_CASE("a symlink inside RO/ to a folder outside the root: nothing outside is read or written")
{
	TempDir tmp;
	std::string root = tmp / "s", outside = tmp / "outside";
	auto writer = unwrap(StoreWriter::open(root, {.durable = false}));
	std::string id = lw::test::makeId();
	// The outside folder looks like a perfect RO layer.
	lw::test::makeDirs(outside + "/diff");
	lw::test::makeDirs(outside + "/empty");
	lw::test::writeFile(outside + "/link", std::string(26, 'o'));
	lw::test::writeFile(outside + "/layer.json", "{\"id\":\"" + id + "\"}");
	auto outsideBefore = lw::test::snapshotTree(outside);
	lw::test::makeSymlink(outside, root + "/overlay/RO/" + id);
	lw::test::makeSymlink(outside, root + "/overlay-layers/RO/" + id);

	// Linking reads the link file through the symlink: refused.
	auto linked = writer.linkLayer(id);
	REQUIRE_FALSE(linked.ok());
	CHECK(linked.error().message.find("overlay/RO/" + id) != std::string::npos);
	CHECK_FALSE(exists(root + "/overlay/" + id));
	CHECK_FALSE(exists(root + "/overlay/l/" + std::string(26, 'o')));
	// A child built on it would read the parent's link: refused too.
	CHECK_FALSE(writer.addLayer({.id = lw::test::makeId(), .parent = id}).ok());
	// Removal removes the symlinks themselves and never follows them.
	unwrap(writer.removeLayer(id));
	CHECK_FALSE(exists(root + "/overlay/RO/" + id));
	CHECK(lw::test::snapshotTree(outside) == outsideBefore);

	// RO itself a symlink out of the root: the writer will not build through it.
	lw::test::removeAll(root + "/overlay/RO");
	lw::test::makeDirs(tmp / "elsewhere");
	lw::test::makeSymlink(tmp / "elsewhere", root + "/overlay/RO");
	CHECK_FALSE(writer.addLayer({.id = lw::test::makeId()}).ok());
	CHECK(lw::test::snapshotTree(tmp / "elsewhere").empty());
}

TEST_CASE("every change touches the generation file")
{
	TempDir tmp;
	std::string root = tmp / "s";
	auto writer = unwrap(StoreWriter::open(root, {.durable = false}));
	std::string path = root + "/" + std::string(paths::kGenerationFile);
	CHECK_FALSE(exists(path));
	// A new file each time (the inode number may be reused at once, so with its
	// times: what a reader compares).
	std::set<std::tuple<ino_t, long, long>> seen;
	auto inode = [&] {
		struct stat st;
		REQUIRE(::stat(path.c_str(), &st) == 0);
		return std::tuple<ino_t, long, long>{st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
	};
	std::string id = lw::test::makeId();
	unwrap(writer.addLayer({.id = id}));
	seen.insert(inode());
	auto image = unwrap(writer.publishImage({.topLayer = id}));
	CHECK(seen.insert(inode()).second);
	unwrap(writer.removeImage(image));
	CHECK(seen.insert(inode()).second);
	unwrap(writer.removeLayer(id));
	CHECK(seen.insert(inode()).second);
	auto quiet = unwrap(StoreWriter::open(tmp / "q", {.durable = false, .bumpGeneration = false}));
	unwrap(quiet.addLayer({.id = id}));
	CHECK_FALSE(exists(tmp / ("q/" + std::string(paths::kGenerationFile))));
}

TEST_CASE("a leftover's age is counted to the nanosecond, not in whole seconds")
{
	TempDir tmp;
	auto writer = unwrap(StoreWriter::open(tmp / "s", {.durable = false, .makeLinks = false}));
	std::string leftover = tmp / "s/overlay/RO/.tmp-" + std::string(64, 'a') + "-0123456789";
	// Made late in one second and looked at early in the next: whole seconds would
	// call it a second old, and `gc --older-than 1` would take a writer's live folder.
	auto subsecond = [] {
		struct timespec t;
		::clock_gettime(CLOCK_REALTIME, &t);
		return t.tv_nsec;
	};
	while (subsecond() < 850000000)
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	lw::test::makeDirs(leftover);
	while (subsecond() > 500000000)
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	CHECK(unwrap(writer.findLeftovers(1)).empty());
	CHECK(unwrap(writer.findLeftovers(0)).size() == 1);
	// Absurd ages do not overflow into "everything is old".
	CHECK(unwrap(writer.findLeftovers(std::numeric_limits<std::int64_t>::max())).empty());
	CHECK(unwrap(writer.findLeftovers(std::numeric_limits<std::int64_t>::min())).size() == 1);
}

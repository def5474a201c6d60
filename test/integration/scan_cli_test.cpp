// `layerwatch scan` from outside, on a store composed from the real iSulad files.
#include "isulad_store.h"
#include "test_support.h"
#include "store_state.h"

#include "reconciler.h"
#include "root.h"
#include "sys.h"

#include <layerwatch/model.h>
#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace lw;
using lw::test::fixturesDir;
using lw::test::readFile;
using lw::test::writeFile;
using namespace lw::test::isulad;
using lw::test::composeIsuladStore;

namespace {

lw::test::ProgramRun runLayerwatch(const std::string &args)
{
	return lw::test::runProgram(std::string(LAYERWATCH) + " " + args);
}

std::vector<std::string> strings(const rapidjson::Value &array)
{
	std::vector<std::string> out;
	for (const auto &v : array.GetArray())
		out.emplace_back(v.GetString());
	return out;
}

} // namespace

TEST_CASE("scan --json on a store of real iSulad files, read-only")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	composeIsuladStore(root);
	auto before = lw::test::snapshotTree(root);

	auto run = runLayerwatch("scan --root " + root + " --json");
	REQUIRE(run.status == 0);
	CHECK(run.err.empty());
	CHECK(lw::test::snapshotTree(root) == before); // scan writes nothing, not even links

	rapidjson::Document doc;
	doc.Parse(run.out.c_str());
	REQUIRE_FALSE(doc.HasParseError());
	const auto &images = doc["images"];
	REQUIRE(images.Size() == 2);
	for (const auto &image : images.GetArray()) {
		std::string id = image["id"].GetString();
		if (id == kBusybox) {
			CHECK(strings(image["names"]) == std::vector<std::string>{"imagehub.isulad.com/official/busybox:latest"});
			CHECK(std::string(image["top_layer"].GetString()) == kChild);
			CHECK(strings(image["layers"]) == std::vector<std::string>{kChild, kBase});
		} else {
			CHECK(id == kCentos);
			CHECK(strings(image["names"]) == std::vector<std::string>{"imagehub.isulad.com/official/centos:latest"});
			CHECK(strings(image["layers"]) == std::vector<std::string>{kBase});
		}
	}
	const auto &layers = doc["layers"];
	REQUIRE(layers.Size() == 2);
	CHECK(std::string(layers[0]["id"].GetString()) == kChild);
	CHECK(std::string(layers[0]["parent"].GetString()) == kBase);
	CHECK_FALSE(layers[1].HasMember("parent"));
	const auto &pending = doc["pending"];
	REQUIRE(pending.Size() == 1);
	CHECK(std::string(pending[0]["kind"].GetString()) == "image");
	CHECK(std::string(pending[0]["id"].GetString()) == kEtcd);
	CHECK(std::string(pending[0]["reason"].GetString()) == "manifest: schema 1 unsupported");

	auto table = runLayerwatch("scan --root " + root);
	CHECK(table.status == 0);
	CHECK(table.out.find("IMAGES (2)") != std::string::npos);
	CHECK(table.out.find("manifest: schema 1 unsupported") != std::string::npos);
}

TEST_CASE("the reader loads the composed store with real names and makes its links")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	composeIsuladStore(root);
	auto rootFd = lw::test::unwrap(openRoot(root));
	Store store;
	Reconciler reader(rootFd.get(), store);
	auto events = reader.initialLoad();
	std::vector<std::string> order;
	for (const auto &e : events)
		if (e.type != EventType::Pending)
			order.push_back(std::string(eventName(e.type)) + " " + e.id.substr(0, 4));
	CHECK(order == std::vector<std::string>{"layer_added 9c27", "layer_added 7db8", "image_added 3989", "image_added e4db"});
	auto snap = store.snapshot();
	REQUIRE(snap.imageByName("imagehub.isulad.com/official/busybox:latest"));
	CHECK(snap.imageByName("imagehub.isulad.com/official/busybox:latest")->id == kBusybox);
	CHECK(snap.chain(kBusybox).size() == 2);
	CHECK(snap.layersByDigest("sha256:0e03bdcc26d7a9a57ef3b6f1bf1a210cff6239bff7c8cac72435984032851689").size() == 1);
	// The links, as DESIGN.md section 3 has them, with the real link names.
	CHECK(lw::test::readLinkAt(root + "/overlay/" + kBase) == "RO/" + kBase);
	CHECK(lw::test::readLinkAt(root + "/overlay/l/c3343428f60aab9c86d24293f6") == "../" + kBase + "/diff");
	CHECK(lw::test::readLinkAt(root + "/overlay/l/d462e429837b2644fce88885d7") == "../" + kChild + "/diff");
}

TEST_CASE("start-up removes dangling links into RO/ and nothing else")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	composeIsuladStore(root);
	std::string gone = std::string(64, 'f'), rw = std::string(64, 'e');
	lw::test::makeSymlink("RO/" + gone, root + "/overlay/" + gone);
	lw::test::makeSymlink("RO/" + gone, root + "/overlay-layers/" + gone);
	lw::test::makeSymlink("../" + gone + "/diff", root + "/overlay/l/" + std::string(26, 'g'));
	// A container's RW layer being removed: its short link dangles, but is not ours.
	lw::test::makeSymlink("../" + rw + "/diff", root + "/overlay/l/" + std::string(26, 'r'));
	lw::test::makeSymlink("/elsewhere/" + gone, root + "/overlay-layers/" + std::string(64, 'd'));
	auto rootFd = lw::test::unwrap(openRoot(root));
	Store store;
	Reconciler reader(rootFd.get(), store);
	(void)reader.initialLoad();
	CHECK_FALSE(lw::test::exists(root + "/overlay/" + gone));
	CHECK_FALSE(lw::test::exists(root + "/overlay-layers/" + gone));
	CHECK_FALSE(lw::test::exists(root + "/overlay/l/" + std::string(26, 'g')));
	CHECK(lw::test::exists(root + "/overlay/l/" + std::string(26, 'r')));
	CHECK(lw::test::exists(root + "/overlay-layers/" + std::string(64, 'd')));
}

namespace {

// What the start-up's look through the links saw: every id statted through a link
// (a stat that follows, of a bare id), and whether listing RO/ fails.
std::vector<std::string> lookedThrough;
bool failROListing = false;

int countingFstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if (!(flags & AT_SYMLINK_NOFOLLOW) && isValidId(path))
		lookedThrough.emplace_back(path);
	return ::fstatat(dirfd, path, st, flags);
}

// getdents64 that fails with EIO on a folder named RO, when told to (as libc fails:
// -1 and errno).
ssize_t roFailingGetdents(int fd, void *buf, size_t count)
{
	char where[PATH_MAX];
	ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), where, sizeof where - 1);
	if (failROListing && n > 3 && std::string_view(where, static_cast<std::size_t>(n)).ends_with("/RO"))
		return errno = EIO, -1;
	return ::syscall(SYS_getdents64, fd, buf, count);
}

} // namespace

TEST_CASE("start-up looks through only the links that RO/ does not list")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	composeIsuladStore(root);
	std::string gone = std::string(64, 'f');
	for (const auto &id : {kBase, kChild, gone}) {
		lw::test::makeSymlink("RO/" + id, root + "/overlay/" + id);
		lw::test::makeSymlink("RO/" + id, root + "/overlay-layers/" + id);
	}
	sys::ScopedOp stat(&sys::Ops::fstatat, &countingFstatat);
	sys::ScopedOp list(&sys::Ops::getdents64, &roFailingGetdents);
	for (bool failing : {false, true}) {
		CAPTURE(failing);
		failROListing = failing;
		lookedThrough.clear();
		for (const char *tree : {"/overlay/", "/overlay-layers/"})
			if (!lw::test::exists(root + tree + gone))
				lw::test::makeSymlink("RO/" + gone, root + tree + gone);
		auto rootFd = lw::test::unwrap(openRoot(root));
		Store store;
		Reconciler reader(rootFd.get(), store);
		(void)reader.initialLoad();
		// On a network share each look is a round trip: only the link RO/ lacks is
		// looked through, unless RO/ cannot be listed (then every link is, as before).
		std::sort(lookedThrough.begin(), lookedThrough.end());
		if (failing)
			CHECK(lookedThrough.size() == 6);
		else
			CHECK(lookedThrough == std::vector<std::string>{gone, gone});
		CHECK_FALSE(lw::test::exists(root + "/overlay/" + gone));
		CHECK_FALSE(lw::test::exists(root + "/overlay-layers/" + gone));
		CHECK(lw::test::readLinkAt(root + "/overlay/" + kBase) == "RO/" + kBase);
		CHECK(lw::test::readLinkAt(root + "/overlay-layers/" + kChild) == "RO/" + kChild);
	}
}

TEST_CASE("bad arguments: one line and exit 2; a missing root: exit 1")
{
	for (const char *args : {"", "scan", "scan --root", "scan --root /x --bogus", "nonsense", "demo --bogus",
				 "watch", "watch --root /x --mode sideways", "watch --root /x --interval 0",
				 "watch --root /x --interval 5s", "watch --root /x --local-rescan 50",
				 "watch --root /x --local-rescan x", "watch --root /x --config /y", "publish --root /x",
				 "publish --root /x --synthetic 0", "publish --root /x --synthetic 129",
				 "publish --root /x --synthetic 2 --layer-dir /y", "publish --root /x --name",
				 "rmi --root /x", "rmi --root /x a b", "rmi --bogus"}) {
		INFO(args);
		auto run = runLayerwatch(args);
		CHECK(run.status == 2);
		CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
		CHECK(run.out.empty());
	}
	auto missing = runLayerwatch("scan --root /nonexistent/layerwatch-root");
	CHECK(missing.status == 1);
	CHECK(missing.err == "layerwatch scan: root /nonexistent/layerwatch-root: missing\n");
	for (const char *args : {"--help", "scan --help", "demo --help", "watch --help", "publish --help", "rmi --help",
				 "--version"}) {
		INFO(args);
		CHECK(runLayerwatch(args).status == 0);
	}
}

TEST_CASE("demo runs the whole story, cleans up and exits 0 in under 30 s")
{
	auto start = std::chrono::steady_clock::now();
	auto run = runLayerwatch("demo");
	CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
	CHECK(run.status == 0);
	for (const char *step : {"image_added    ", "busybox:latest", "nginx:1.25", "image_removed  ", "alpine:3",
				 "busybox: manifest written -> image_added", "temporary store removed"})
		CHECK_MESSAGE(run.out.find(step) != std::string::npos, step);
	auto at = run.out.find("a store at ");
	REQUIRE(at != std::string::npos);
	std::string store = run.out.substr(at + 11, run.out.find(',', at) - at - 11);
	CHECK_FALSE(lw::test::exists(store));
}

TEST_CASE("publish and rmi: the writing side from the command line")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	auto first = runLayerwatch("publish --root " + root + " --synthetic 3 --name app:1 --name app:latest");
	REQUIRE(first.status == 0);
	std::string app = first.out.substr(0, first.out.size() - 1);
	CHECK(isValidId(app));
	lw::test::makeDirs(tmp / "content/etc");
	writeFile(tmp / "content/etc/motd", "hello");
	auto second = runLayerwatch("publish --root " + root + " --layer-dir " + tmp.path() + "/content --name files:1");
	REQUIRE(second.status == 0);
	std::string files = second.out.substr(0, second.out.size() - 1);

	auto report = lw::test::unwrap(scanStore(root));
	REQUIRE(report.images.size() == 2);
	CHECK(report.layers.size() == 4);
	CHECK(report.pending.empty());
	auto filesImage = std::find_if(report.images.begin(), report.images.end(), [&](const auto &i) { return i.image->id == files; });
	REQUIRE(filesImage != report.images.end());
	CHECK(readFile(root + "/overlay/RO/" + filesImage->image->topLayer + "/diff/etc/motd") == "hello");

	// rmi by name: the image, then its three layers, top first; files:1 untouched.
	auto removed = runLayerwatch("rmi --root " + root + " app:latest");
	REQUIRE(removed.status == 0);
	CHECK(removed.out.rfind("removed image " + app + "\n", 0) == 0);
	CHECK(std::count(removed.out.begin(), removed.out.end(), '\n') == 4);
	report = lw::test::unwrap(scanStore(root));
	REQUIRE(report.images.size() == 1);
	CHECK(report.images[0].image->id == files);
	CHECK(report.layers.size() == 1);
	auto again = runLayerwatch("rmi --root " + root + " app:latest");
	CHECK(again.status == 1);
	CHECK(again.err == "layerwatch rmi: no image app:latest in " + root + "\n");
}

TEST_CASE("rmi keeps the layers another image stands on")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false}));
	std::string base = lw::test::makeId(), mid = lw::test::makeId(), top = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.addLayer({.id = mid, .parent = base}));
	lw::test::unwrap(writer.addLayer({.id = top, .parent = mid}));
	auto small = lw::test::unwrap(writer.publishImage({.topLayer = mid, .names = {"small:1"}}));
	auto big = lw::test::unwrap(writer.publishImage({.topLayer = top, .names = {"big:1"}}));
	auto removed = runLayerwatch("rmi --root " + root + " " + big);
	REQUIRE(removed.status == 0);
	CHECK(removed.out == "removed image " + big + "\nremoved layer " + top + "\n");
	auto report = lw::test::unwrap(scanStore(root));
	REQUIRE(report.images.size() == 1);
	CHECK(report.images[0].image->id == small);
	CHECK(report.layers.size() == 2);
}

TEST_CASE("--config takes the root and the switch from iSulad's daemon.json")
{
	lw::test::TempDir tmp;
	std::string graph = tmp / "isulad";
	composeIsuladStore(graph + "/storage");
	writeFile(tmp / "on.json", "{\"graph\": \"" + graph + "/\", \"storage-enable-remote-layer\": true}");
	writeFile(tmp / "off.json", "{\"graph\": \"" + graph + "\", \"storage-enable-remote-layer\": false}");
	writeFile(tmp / "bad.json", "{\"graph\": ");
	auto on = runLayerwatch("scan --config " + tmp.path() + "/on.json --json");
	CHECK(on.status == 0);
	CHECK(on.out.find(kBusybox) != std::string::npos);
	auto off = runLayerwatch("scan --config " + tmp.path() + "/off.json");
	CHECK(off.status == 1);
	CHECK(off.err.find("\"storage-enable-remote-layer\" is not true") != std::string::npos);
	CHECK(std::count(off.err.begin(), off.err.end(), '\n') == 1);
	auto bad = runLayerwatch("watch --config " + tmp.path() + "/bad.json");
	CHECK(bad.status == 1);
	CHECK(bad.err.find("invalid JSON") != std::string::npos);
	CHECK(runLayerwatch("scan --config " + tmp.path() + "/missing.json").status == 1);
}

TEST_CASE("a symlink above the store is the operator's: --root and --config's graph through /var/lib/isulad as a link")
{
	// Many hosts have /var/lib/isulad linked to a data volume (DESIGN.md section 2).
	lw::test::TempDir tmp;
	composeIsuladStore(tmp / "volume/isulad/storage");
	lw::test::makeSymlink(tmp / "volume/isulad", tmp / "isulad");
	writeFile(tmp / "daemon.json", "{\"graph\": \"" + tmp.path() + "/isulad\", \"storage-enable-remote-layer\": true}");
	auto scan = runLayerwatch("scan --json --root " + tmp.path() + "/isulad/storage");
	CHECK(scan.status == 0);
	CHECK(scan.out.find(kBusybox) != std::string::npos);
	for (std::string where : {"--root " + tmp.path() + "/isulad/storage", "--config " + tmp.path() + "/daemon.json"}) {
		INFO(where);
		// Stopped by SIGINT once loaded: a clean stop exits 0.
		auto watch = lw::test::runProgram("{ " + std::string(LAYERWATCH) + " watch --json " + where +
						  " & pid=$!; sleep 3; kill -INT $pid; wait $pid; }");
		CHECK(watch.status == 0);
		CHECK(watch.out.find("\"event\":\"ready\",\"images\":" ) != std::string::npos);
		CHECK(watch.out.find(kBusybox) != std::string::npos);
	}
}

TEST_CASE("gc removes the temporary entries killed writers left, and nothing else")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	composeIsuladStore(root);
	lw::test::makeDirs(root + "/overlay/RO/.tmp-" + std::string(64, 'a') + "-0123456789/diff");
	lw::test::makeDirs(root + "/overlay-images/.trash-" + std::string(64, 'e') + "-0123456789");
	lw::test::makeSymlink("RO/x", root + "/overlay/.tmp-" + std::string(64, 'f') + "-0123456789");
	// Not ours: a folder in iSulad's local tree that happens to look like a temporary.
	lw::test::makeDirs(root + "/overlay/.tmp-isulad");
	auto before = lw::test::snapshotTree(root);

	auto run = runLayerwatch("gc --root " + root);
	CHECK(run.status == 0);
	CHECK(run.out == "removed 0 leftovers\n"); // all younger than an hour
	CHECK(lw::test::snapshotTree(root) == before);

	run = runLayerwatch("gc --root " + root + " --older-than 0");
	CHECK(run.status == 0);
	CHECK(run.out == "removed 3 leftovers\n");
	CHECK(lw::test::exists(root + "/overlay/.tmp-isulad"));
	auto report = lw::test::unwrap(scanStore(root));
	CHECK(report.images.size() == 2);

	run = runLayerwatch("gc --root " + (tmp / "nowhere"));
	CHECK(run.status == 1);
	CHECK(run.err.find("no such folder") != std::string::npos);
	CHECK_FALSE(lw::test::exists(tmp / "nowhere"));
	CHECK(runLayerwatch("gc --root " + root + " --older-than soon").status == 2);
}

// `layerwatch scan` from outside, on a store composed from the real iSulad files.
#include "test_support.h"
#include "store_state.h"

#include "reconciler.h"
#include "root.h"

#include <layerwatch/model.h>
#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sys/wait.h>

using namespace lw;
using lw::test::fixturesDir;
using lw::test::readFile;
using lw::test::writeFile;

namespace {

const std::string kBase = "9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63";
const std::string kChild = "7db8f44a0a8e12ea4283e3180e98880007efbd5de2e7c98b67de9cdd4dfffb0b";
const std::string kBusybox = "e4db68de4ff27c2adfea0c54bbb73a61a42f5b667c326de4d7d5b19ab71c6a3b";
const std::string kCentos = "39891ff67da98ab8540d71320915f33d2eb80ab42908e398472cab3c1ce7ac10";
const std::string kEtcd = "2aef2fee38d871f9b97d92653471394487c57042eae07b279b9852be3a78132b";

void copyFile(const std::string &from, const std::string &to)
{
	writeFile(to, readFile(from));
}

// The fixtures are format samples, not one store: lay them out as one. Layers 9c27
// (base) and 7db8 (its child) with the overlay files iSulad wrote (7db8's overlay is
// the fixture's 1be7, whose lower names 9c27's link); busybox on 7db8, centos on 9c27
// (their images.json edited only in "layer"); etcd's schema-1 image as it is.
void composeStore(const std::string &root)
{
	std::string f = fixturesDir() + "/layers/data";
	for (auto [id, overlay] : {std::pair{kBase, kBase}, {kChild, std::string("1be74353c3d0fd55fb5638a52953e6f1bc441e5b1710921db9ec2aa202725569")}}) {
		std::string dir = root + "/overlay/RO/" + id;
		lw::test::makeDirs(dir + "/diff"); // the fixtures leave diff/ contents out
		copyFile(f + "/overlay/" + overlay + "/link", dir + "/link");
		if (lw::test::exists(f + "/overlay/" + overlay + "/lower"))
			copyFile(f + "/overlay/" + overlay + "/lower", dir + "/lower");
		else
			lw::test::makeDirs(dir + "/empty");
		std::string meta = root + "/overlay-layers/RO/" + id;
		lw::test::makeDirs(meta);
		copyFile(f + "/overlay-layers/" + id + "/layer.json", meta + "/layer.json");
		// iSulad requires a tar-split for image layers; 7db8's sample lacks one.
		copyFile(f + "/overlay-layers/" + kBase + "/" + kBase + ".tar-split.gz", meta + "/" + id + ".tar-split.gz");
	}
	// The fixtures keep the l/ symlinks as files holding their targets: make them real,
	// with 1be7's renamed as its overlay was (an l/ link naming a layer that is not
	// there is not ours, and is never replaced).
	lw::test::makeDirs(root + "/overlay/l");
	for (const auto &[name, what] : lw::test::snapshotTree(f + "/overlay/l")) {
		std::string target = what.substr(2);
		if (auto at = target.find("1be74353"); at != std::string::npos)
			target.replace(at, 64, kChild);
		lw::test::makeSymlink(target, root + "/overlay/l/" + name);
	}
	std::string images = fixturesDir() + "/images/data";
	for (auto [sub, id, top] : {std::tuple{"overlay-images", kBusybox, kChild}, {"overlay-images", kCentos, kBase},
				    {"v1_images", kEtcd, std::string()}}) {
		std::string from = images + "/" + sub + "/" + id, to = root + "/overlay-images/" + id;
		lw::test::makeDirs(to);
		for (const auto &[path, what] : lw::test::snapshotTree(from))
			writeFile(to + "/" + path, what.substr(2));
		if (!top.empty()) {
			auto text = readFile(to + "/images.json");
			auto at = text.find("\"layer\":\"") + 9;
			writeFile(to + "/images.json", text.replace(at, 64, top));
		}
	}
}

struct Run {
	int status;
	std::string out, err;
};

Run runLayerwatch(const std::string &args)
{
	lw::test::TempDir tmp;
	std::string cmd = std::string(LAYERWATCH) + " " + args + " >" + tmp.path() + "/out 2>" + tmp.path() + "/err";
	int status = lw::test::run(cmd);
	return {status, readFile(tmp / "out"), readFile(tmp / "err")};
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
	composeStore(root);
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
	composeStore(root);
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
	composeStore(root);
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

TEST_CASE("bad arguments: one line and exit 2; a missing root: exit 1")
{
	for (const char *args : {"", "scan", "scan --root", "scan --root /x --bogus", "nonsense", "demo --bogus",
				 "watch", "watch --root /x --mode sideways", "watch --root /x --interval 0",
				 "watch --root /x --interval 5s", "watch --root /x --config /y", "publish --root /x",
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
	composeStore(graph + "/storage");
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

TEST_CASE("gc removes the temporary entries killed writers left, and nothing else")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	composeStore(root);
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

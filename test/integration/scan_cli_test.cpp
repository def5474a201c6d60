// `layerwatch scan` from outside, on a store composed from the real iSulad files.
#include "test_support.h"

#include "reconciler.h"
#include "root.h"

#include <rapidjson/document.h>

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
	// The fixtures keep the l/ symlinks as files holding their targets: make them real.
	lw::test::makeDirs(root + "/overlay/l");
	for (const auto &[name, what] : lw::test::snapshotTree(f + "/overlay/l"))
		lw::test::makeSymlink(what.substr(2), root + "/overlay/l/" + name);
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
	for (const char *args : {"", "scan", "scan --root", "scan --root /x --bogus", "nonsense", "demo --bogus"}) {
		INFO(args);
		auto run = runLayerwatch(args);
		CHECK(run.status == 2);
		CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
		CHECK(run.out.empty());
	}
	auto missing = runLayerwatch("scan --root /nonexistent/layerwatch-root");
	CHECK(missing.status == 1);
	CHECK(missing.err == "layerwatch scan: root /nonexistent/layerwatch-root: missing\n");
	for (const char *args : {"--help", "scan --help", "demo --help", "--version"}) {
		INFO(args);
		CHECK(runLayerwatch(args).status == 0);
	}
}

TEST_CASE("demo runs the whole story and exits 0")
{
	auto run = runLayerwatch("demo");
	CHECK(run.status == 0);
	CHECK(run.out.find("nginx:1.25") != std::string::npos);
	CHECK(run.out.find("temporary store removed") != std::string::npos);
}

// The iSulad fixtures laid out as one store.
#include "isulad_store.h"
#include "test_support.h"

#include <tuple>

namespace lw::test {

using namespace isulad;

namespace {

void copyFile(const std::string &from, const std::string &to)
{
	writeFile(to, readFile(from));
}

} // namespace

// The fixtures are format samples, not one store: lay them out as one. Layers 9c27
// (base) and 7db8 (its child) with the overlay files iSulad wrote (7db8's overlay is
// the fixture's 1be7, whose lower names 9c27's link); busybox on 7db8, centos on 9c27
// (their images.json edited only in "layer"); etcd's schema-1 image as it is.
void composeIsuladStore(const std::string &root)
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


} // namespace lw::test

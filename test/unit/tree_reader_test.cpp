// A layer is read whole: readOtherHalves completes a read of one layer tree with the
// other half of every id it read, and lets trouble on one half hold the other back.
#include "test_support.h"

#include "root.h"
#include "tree_reader.h"
#include "validator.h"

#include <layerwatch/writer.h>

#include <cerrno>

using namespace lw;

namespace {

const ItemRead *find(const ReadResult &result, const std::string &id)
{
	for (const auto &item : result.items)
		if (item.id == id)
			return &item;
	return nullptr;
}

struct TwoReads {
	std::vector<ReadRequest> requests;
	std::vector<ReadResult> results;
};

// Reads ids of overlay/RO and layersIds of overlay-layers/RO, as one engine read would.
TwoReads readBoth(int rootFd, std::vector<std::string> overlayIds, std::vector<std::string> layersIds)
{
	TwoReads out;
	out.requests.push_back({.tree = Tree::Overlay, .read = std::move(overlayIds)});
	out.requests.push_back({.tree = Tree::Layers, .read = std::move(layersIds)});
	for (const auto &request : out.requests)
		out.results.push_back(readTree(rootFd, request));
	return out;
}

// A store holding one base layer.
struct OneLayer {
	lw::test::TempDir tmp;
	std::string id = lw::test::makeId();
	UniqueFd rootFd;
	OneLayer()
	{
		auto writer = lw::test::unwrap(StoreWriter::open(tmp / "s", {.durable = false, .makeLinks = false}));
		lw::test::unwrap(writer.addLayer({.id = id}));
		rootFd = lw::test::unwrap(openRoot(tmp / "s"));
	}
};

} // namespace

TEST_CASE("the other half of every layer read is read in the same batch")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string a = lw::test::makeId(), b = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = a}));
	lw::test::unwrap(writer.addLayer({.id = b, .parent = a}));
	auto rootFd = lw::test::unwrap(openRoot(root));

	// a's overlay half and b's layer half were read: each gets its other half.
	auto reads = readBoth(rootFd.get(), {a}, {b});
	readOtherHalves(rootFd.get(), reads.requests, reads.results);
	auto &overlays = reads.results[0], &layers = reads.results[1];
	REQUIRE(find(overlays, b));
	REQUIRE(find(layers, a));
	CHECK(stateOf(find(layers, a)->files).problem.empty());
	CHECK(stateOf(find(overlays, b)->files).problem.empty());
	CHECK(overlays.items.size() == 2);
	CHECK(layers.items.size() == 2);

	// An id with no folder in either tree: its other half is looked at, and absent.
	std::string c = lw::test::makeId();
	reads = readBoth(rootFd.get(), {c}, {});
	readOtherHalves(rootFd.get(), reads.requests, reads.results);
	const ItemRead *other = find(reads.results[1], c);
	REQUIRE(other);
	CHECK(stateOf(other->files).identity.folder.ino == 0);
	CHECK(stateOf(other->files).ioError == 0);
}

TEST_CASE("trouble on one half holds the other half back")
{
	OneLayer store;
	const std::string &a = store.id;
	const UniqueFd &rootFd = store.rootFd;

	auto reads = readBoth(rootFd.get(), {a}, {a});
	ItemState &layerHalf = stateOf(reads.results[1].items.at(0).files);
	layerHalf.ioError = EIO;
	layerHalf.problem = "layer.json: input/output error";
	readOtherHalves(rootFd.get(), reads.requests, reads.results);
	const ItemState &overlayHalf = stateOf(find(reads.results[0], a)->files);
	CHECK(overlayHalf.ioError == EIO);
	CHECK(overlayHalf.problem == "other half: layer.json: input/output error");
	// The validator keeps neither: the layer stays as it was (here: unknown).
	Validator validator(rootFd.get());
	for (auto &result : reads.results)
		validator.adopt(std::move(result));
	CHECK_FALSE(validator.layerVerdict(a));
}

TEST_CASE("without both trees in the batch nothing more is read")
{
	OneLayer store;
	const std::string &a = store.id;
	const UniqueFd &rootFd = store.rootFd;
	std::vector<ReadRequest> requests{{.tree = Tree::Overlay, .read = {a}}};
	std::vector<ReadResult> results{readTree(rootFd.get(), requests[0])};
	readOtherHalves(rootFd.get(), requests, results);
	REQUIRE(results.size() == 1);
	CHECK(results[0].items.size() == 1);
}

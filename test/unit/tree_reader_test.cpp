// A layer is read whole: readOtherHalves completes a read of one layer tree with the
// other half of every id it read, and lets trouble on one half hold the other back.
#include "test_support.h"

#include "root.h"
#include "sys.h"
#include "tree_reader.h"
#include "validator.h"

#include <layerwatch/writer.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

// A store holding a base layer and its child.
struct BaseAndChild {
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	std::string base = lw::test::makeId(), child = lw::test::makeId();
	UniqueFd rootFd;
	BaseAndChild()
	{
		auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
		lw::test::unwrap(writer.addLayer({.id = base}));
		lw::test::unwrap(writer.addLayer({.id = child, .parent = base}));
		rootFd = lw::test::unwrap(openRoot(root));
	}
};

} // namespace

TEST_CASE("the other half of every layer read is read in the same batch")
{
	BaseAndChild store;
	const std::string &a = store.base, &b = store.child;
	const UniqueFd &rootFd = store.rootFd;

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

TEST_CASE("a half whose whole tree could not be read holds back every item of the other half")
{
	OneLayer store;
	const std::string &a = store.id;
	const UniqueFd &rootFd = store.rootFd;

	auto reads = readBoth(rootFd.get(), {a}, {});
	reads.results[1].treeError = makeError(EIO, "overlay-layers/RO: input/output error");
	readOtherHalves(rootFd.get(), reads.requests, reads.results);
	const ItemState &overlayHalf = stateOf(find(reads.results[0], a)->files);
	CHECK(overlayHalf.ioError == EIO);
	CHECK(overlayHalf.problem == "other half: overlay-layers/RO: input/output error");
	CHECK(reads.results[1].items.empty()); // nothing more is read of a tree that failed
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

namespace {

// statx that counts looks at an empty/ and fails them with emptyError (0: truly), as
// libc fails: -1 and errno.
int emptyLooks = 0;
int emptyError = 0;

int emptyWatchingStatx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
	std::string_view p(path);
	if (p.ends_with("/empty")) {
		++emptyLooks;
		if (emptyError)
			return errno = emptyError, -1;
	}
	return ::statx(dirfd, path, flags, mask, out);
}

} // namespace

TEST_CASE("empty/ is looked at only for an overlay without a lower file, and trouble there is not absence")
{
	BaseAndChild store;
	const std::string &base = store.base, &child = store.child, &root = store.root;
	const UniqueFd &rootFd = store.rootFd;
	sys::ScopedOp look(&sys::Ops::statx, &emptyWatchingStatx);

	// A layer with a parent: its lower says so; empty/ costs no look (a round trip on
	// a share).
	emptyLooks = 0;
	ReadResult read = readTree(rootFd.get(), {.tree = Tree::Overlay, .read = {child}});
	REQUIRE(find(read, child));
	CHECK(stateOf(find(read, child)->files).problem.empty());
	CHECK(emptyLooks == 0);

	// A base layer: empty/ is looked at, and found.
	read = readTree(rootFd.get(), {.tree = Tree::Overlay, .read = {base}});
	REQUIRE(find(read, base));
	CHECK(stateOf(find(read, base)->files).problem.empty());
	CHECK(emptyLooks == 1);

	// The look fails: trouble reading, which leaves the layer as it was, not pending.
	emptyError = EIO;
	read = readTree(rootFd.get(), {.tree = Tree::Overlay, .read = {base}});
	emptyError = 0;
	REQUIRE(find(read, base));
	const ItemState &troubled = stateOf(find(read, base)->files);
	CHECK(troubled.ioError == EIO);
	CHECK(troubled.problem == "empty: Input/output error");

	// No empty/ either: pending, and the probe of a pending item covers empty/, so
	// that its making is seen.
	lw::test::removeAll(root + "/overlay/RO/" + base + "/empty");
	read = readTree(rootFd.get(), {.tree = Tree::Overlay, .read = {base}});
	REQUIRE(find(read, base));
	const ItemState &pending = stateOf(find(read, base)->files);
	CHECK(pending.problem == "lower: missing (and no empty/ for a base layer)");
	CHECK(pending.probeNames.back() == "empty");
	CHECK(pending.identity.files.size() == pending.probeNames.size());
}

namespace {

// openat and openat2 that note each path opened (the real openat2 saved first).
std::vector<std::string> opened;
int (*realOpenat2)(int, const char *, int, mode_t) = sys::ops().openat2Beneath;

int notingOpenat(int dirfd, const char *path, int flags, mode_t mode)
{
	opened.emplace_back(path);
	return ::openat(dirfd, path, flags, mode);
}

int notingOpenat2(int dirfd, const char *path, int flags, mode_t mode)
{
	opened.emplace_back(path);
	return realOpenat2(dirfd, path, flags, mode);
}

// How many of the paths opened end with name.
std::size_t openedEndingWith(const std::string &name)
{
	return std::count_if(opened.begin(), opened.end(), [&](const std::string &p) { return p.ends_with(name); });
}

} // namespace

TEST_CASE("the manifest's arrival for an image pending on it alone is read alone, while the rest holds")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	std::string id = lw::test::storeWithOneImage(root);
	std::string folder = root + "/overlay-images/" + id;
	auto rootFd = lw::test::unwrap(openRoot(root));
	Validator validator(rootFd.get());
	validator.rescan();
	REQUIRE(validator.imageVerdict(id));
	REQUIRE(validator.imageVerdict(id)->ready);
	PackedImage first = validator.image(id)->info;

	// Taken away: pending on it, the rest checked (its big data now in the probe).
	REQUIRE(::rename((folder + "/manifest").c_str(), (tmp / "manifest").c_str()) == 0);
	validator.refresh(Tree::Images, id);
	REQUIRE(validator.image(id));
	CHECK(validator.imageVerdict(id)->reason == "manifest: missing");
	CHECK(validator.image(id)->restChecked);
	CHECK(validator.image(id)->probeNames.size() > 2);

	// Back: one open in its folder, of the manifest (the tree's own open aside).
	REQUIRE(::rename((tmp / "manifest").c_str(), (folder + "/manifest").c_str()) == 0);
	{
		sys::ScopedOp a(&sys::Ops::openat, &notingOpenat), b(&sys::Ops::openat2Beneath, &notingOpenat2);
		opened.clear();
		validator.refresh(Tree::Images, id);
	}
	CHECK(openedEndingWith("/manifest") == 1);
	CHECK(std::count_if(opened.begin(), opened.end(), [&](const std::string &p) { return p.starts_with(id); }) == 1);
	REQUIRE(validator.imageVerdict(id));
	CHECK(validator.imageVerdict(id)->ready);
	CHECK(validator.image(id)->info == first);
	CHECK_FALSE(validator.image(id)->restChecked);
	CHECK(validator.image(id)->probeNames.size() == 2); // settled: as a full read leaves it

	// The same when a listing finds it changed (a remote tree's tick, a resync).
	REQUIRE(::rename((folder + "/manifest").c_str(), (tmp / "manifest").c_str()) == 0);
	validator.refresh(Tree::Images, id);
	REQUIRE(validator.image(id)->restChecked);
	REQUIRE(::rename((tmp / "manifest").c_str(), (folder + "/manifest").c_str()) == 0);
	{
		sys::ScopedOp a(&sys::Ops::openat, &notingOpenat), b(&sys::Ops::openat2Beneath, &notingOpenat2);
		opened.clear();
		validator.rescan(nullptr, {false, false, true});
	}
	CHECK(openedEndingWith("/manifest") == 1);
	CHECK(std::count_if(opened.begin(), opened.end(), [&](const std::string &p) { return p.starts_with(id); }) == 1);
	CHECK(validator.imageVerdict(id)->ready);

	// Away again, and images.json rewritten meanwhile (a new name): read in full.
	REQUIRE(::rename((folder + "/manifest").c_str(), (tmp / "manifest").c_str()) == 0);
	validator.refresh(Tree::Images, id);
	REQUIRE(validator.image(id)->restChecked);
	std::string text = lw::test::readFile(folder + "/images.json");
	auto at = text.find("app:1");
	REQUIRE(at != std::string::npos);
	text.replace(at, 5, "app:2");
	lw::test::writeFile(folder + "/images.json.tmp", text);
	REQUIRE(::rename((folder + "/images.json.tmp").c_str(), (folder + "/images.json").c_str()) == 0);
	REQUIRE(::rename((tmp / "manifest").c_str(), (folder + "/manifest").c_str()) == 0);
	{
		sys::ScopedOp a(&sys::Ops::openat, &notingOpenat), b(&sys::Ops::openat2Beneath, &notingOpenat2);
		opened.clear();
		validator.refresh(Tree::Images, id);
	}
	CHECK(openedEndingWith("/images.json") == 1);
	REQUIRE(validator.imageVerdict(id));
	CHECK(validator.imageVerdict(id)->ready);
	REQUIRE(validator.image(id)->info.names().size() == 1);
	CHECK(validator.image(id)->info.names()[0] == "app:2");
}

// The plan-to-reads translation and back, without a kernel or a worker: how a remote
// tree's tick is read, what a local event's read costs, what a result says.
#include "read_batch.h"
#include "test_support.h"

#include <fcntl.h>

using namespace lw;

namespace {

ReadPlan::TreePlan reading(std::set<std::string> ids)
{
	ReadPlan::TreePlan p;
	p.read = std::move(ids);
	return p;
}

} // namespace

TEST_CASE("a remote tree's tick asks the server, in parallel, counted; a local read by name is not a rescan")
{
	lw::test::TempDir tmp;
	UniqueFd root(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY));
	Validator validator(root.get());
	std::array<TreeFacts, 3> facts{};
	facts[static_cast<int>(Tree::Images)] = {.remote = true, .fsMagic = 0x65735546};
	ReadPlan plan;
	ReadPlan::TreePlan tick;
	tick.check = true;
	plan.trees.emplace(Tree::Images, tick);
	plan.trees.emplace(Tree::Layers, reading({"a", "b"}));
	auto progress = std::make_shared<std::atomic<std::int64_t>>(0);
	auto calls = std::make_shared<std::atomic<std::uint64_t>>(0);
	int knownAsked = 0;
	auto batch = requestsFor(plan, validator, facts, 32, [&](Tree) {
		++knownAsked;
		return std::make_shared<const std::vector<ReadRequest::Known>>();
	}, progress, calls);

	REQUIRE(batch.requests.size() == 2);
	CHECK(batch.anyList);
	CHECK(batch.remoteLook);
	CHECK(batch.readAlone == 2);
	CHECK(knownAsked == 1); // the listing's tree only
	const ReadRequest &layers = batch.requests[0]; // (the plan's tree order)
	const ReadRequest &images = batch.requests[1];
	REQUIRE(layers.tree == Tree::Layers);
	CHECK_FALSE(layers.list);
	CHECK_FALSE(layers.forceFresh);
	CHECK(layers.calls == nullptr);
	CHECK(layers.parallel == 4);
	CHECK(images.list);
	CHECK(images.checkFirst);
	CHECK_FALSE(images.probeSettled); // ready images are verified in slices instead
	CHECK(images.forceFresh);
	CHECK(images.expectFsMagic == 0x65735546);
	CHECK(images.parallel == 32);
	CHECK(images.calls == calls);
	CHECK(images.progress == progress);
}

TEST_CASE("a result as the policy's outcome: items in trouble apart, gone ones read fine")
{
	ReadResult r;
	r.tree = Tree::Images;
	r.gone = {"gone"};
	ImageFiles bad;
	bad.ioError = EIO;
	bad.problem = "images.json: Input/output error";
	r.items.push_back({"bad", bad});
	r.items.push_back({"good", ImageFiles{}});
	r.listingStale = true;
	TreeOutcome o = outcomeOf(r);
	CHECK(o.tree == Tree::Images);
	CHECK(o.listingStale);
	CHECK(o.readFine == std::vector<std::string_view>{"gone", "good"});
	REQUIRE(o.troubled.count("bad") == 1);
	CHECK(o.troubled.at("bad").first == EIO);
	CHECK(coveredItems(ReadPlan{}, {r}) == 3);
}

TEST_CASE("a load's plan is read in two parts, the halves and the images; a later plan whole")
{
	ReadPlan plan;
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images})
		plan.trees.emplace(tree, reading({"a"}));
	auto parts = splitForLoad(plan, {});
	REQUIRE(parts.size() == 2);
	CHECK(parts[0].trees.count(Tree::Overlay) == 1);
	CHECK(parts[0].trees.count(Tree::Layers) == 1);
	CHECK(parts[0].trees.count(Tree::Images) == 0);
	REQUIRE(parts[1].trees.size() == 1);
	CHECK(parts[1].trees.at(Tree::Images).read == std::set<std::string>{"a"});

	// Loaded: one read, images first, so that an image seen has its layers seen too.
	CHECK(splitForLoad(plan, {true, true, true}).size() == 1);
	// The images alone, or nothing: nothing to split.
	ReadPlan images;
	images.trees.emplace(Tree::Images, reading({"a"}));
	CHECK(splitForLoad(images, {}).size() == 1);
	CHECK(splitForLoad(ReadPlan{}, {}).empty());
}

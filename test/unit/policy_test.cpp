// The engine's policy without a kernel or a clock: a fake source (calls), a fake
// clock (the times passed in).
#include "policy.h"

#include <doctest/doctest.h>

using namespace lw;

namespace {

// (Views of string literals: they outlive every outcome.)
TreeOutcome fine(Tree tree, std::vector<std::string_view> read = {})
{
	TreeOutcome o;
	o.tree = tree;
	o.readFine = std::move(read);
	return o;
}

TreeOutcome treeFailed(Tree tree, int err)
{
	TreeOutcome o;
	o.tree = tree;
	o.treeError = err;
	o.treeMessage = "overlay-images: list: I/O error";
	return o;
}

// The read came back with one item that could not be read.
TreeOutcome itemFailed(Tree tree, const std::string &id, int err, const std::string &message)
{
	TreeOutcome o = fine(tree);
	o.troubled[id] = {err, message};
	return o;
}

std::vector<TroubleNote::Kind> kinds(const std::vector<TroubleNote> &notes)
{
	std::vector<TroubleNote::Kind> out;
	for (const auto &n : notes)
		out.push_back(n.kind);
	return out;
}

} // namespace

TEST_CASE("events are coalesced, and what comes while a read is in flight waits for the next")
{
	Policy p;
	p.changed(Tree::Images, "a");
	p.changed(Tree::Images, "b");
	p.changed(Tree::Images, "a");
	ReadPlan first = p.take(0);
	REQUIRE(first.trees.size() == 1);
	CHECK(first.trees.at(Tree::Images).read == std::set<std::string>{"a", "b"});
	CHECK(p.busy(Tree::Images));

	p.changed(Tree::Images, "c");
	p.listWanted(Tree::Images);
	p.changed(Tree::Layers, "x"); // another tree is free: it goes at once
	ReadPlan meanwhile = p.take(1);
	REQUIRE(meanwhile.trees.size() == 1);
	CHECK(meanwhile.trees.count(Tree::Layers) == 1);

	p.finished(first, {fine(Tree::Images, {"a", "b"})}, 2);
	ReadPlan next = p.take(3);
	REQUIRE(next.trees.count(Tree::Images) == 1);
	CHECK(next.trees.at(Tree::Images).list);
	CHECK(next.trees.at(Tree::Images).read == std::set<std::string>{"c"});
	CHECK(p.take(4).empty());
}

TEST_CASE("a recheck asked for an id that is also read is only read")
{
	Policy p;
	p.recheckWanted(Tree::Overlay, "a");
	p.recheckWanted(Tree::Overlay, "b");
	p.changed(Tree::Overlay, "a");
	auto plan = p.take(0);
	CHECK(plan.trees.at(Tree::Overlay).read == std::set<std::string>{"a"});
	CHECK(plan.trees.at(Tree::Overlay).recheck == std::set<std::string>{"b"});
}

TEST_CASE("an unreadable tree is told once, retried with backoff, nothing asked is lost, and heals")
{
	Policy p({.retryFirstMs = 1000, .retryMaxMs = 4000});
	p.listWanted(Tree::Images);
	p.changed(Tree::Images, "a");
	auto plan = p.take(0);
	auto notes = p.finished(plan, {treeFailed(Tree::Images, EIO)}, 10);
	CHECK(kinds(notes) == std::vector{TroubleNote::TreeFailed});
	CHECK(notes[0].error == EIO);
	CHECK(p.troubled(Tree::Images));
	CHECK(p.take(500).empty());
	CHECK(p.nextDueMs() == 1010u);
	plan = p.take(1010);
	REQUIRE(plan.trees.count(Tree::Images));
	CHECK(plan.trees.at(Tree::Images).list);
	CHECK(plan.trees.at(Tree::Images).read == std::set<std::string>{"a"});
	// The same trouble again: not told again; the wait doubles, up to its cap.
	CHECK(p.finished(plan, {treeFailed(Tree::Images, EIO)}, 1010).empty());
	CHECK(p.nextDueMs() == 3010u);
	plan = p.take(3010);
	p.finished(plan, {treeFailed(Tree::Images, EIO)}, 3010);
	CHECK(p.nextDueMs() == 7010u);
	plan = p.take(7010);
	p.finished(plan, {treeFailed(Tree::Images, EIO)}, 7010);
	CHECK(p.nextDueMs() == 11010u);
	// Another errno is news.
	plan = p.take(11010);
	CHECK(kinds(p.finished(plan, {treeFailed(Tree::Images, ESTALE)}, 11010)) == std::vector{TroubleNote::TreeFailed});
	plan = p.take(20000);
	CHECK(kinds(p.finished(plan, {fine(Tree::Images)}, 20000)) == std::vector{TroubleNote::TreeHealed});
	CHECK_FALSE(p.troubled(Tree::Images));
	CHECK(p.take(20001).empty());
}

TEST_CASE("a first wait above the cap never shrinks: the backoff stays at it")
{
	Policy p({.retryFirstMs = 60000, .retryMaxMs = 30000});
	p.listWanted(Tree::Images);
	auto plan = p.take(0);
	p.finished(plan, {treeFailed(Tree::Images, EIO)}, 0);
	CHECK(p.nextDueMs() == 60000u);
	plan = p.take(60000);
	p.finished(plan, {treeFailed(Tree::Images, EIO)}, 60000);
	CHECK(p.nextDueMs() == 120000u); // not 90 000: the cap never goes under the first wait
}

TEST_CASE("an item that cannot be read is read again (not only looked at), then heals")
{
	Policy p({.retryFirstMs = 100});
	p.changed(Tree::Layers, "a");
	auto plan = p.take(0);
	CHECK(kinds(p.finished(plan, {itemFailed(Tree::Layers, "a", EMFILE, "layer.json: Too many open files")}, 0)) == std::vector{TroubleNote::ItemFailed});
	CHECK(p.troubleCount() == 1);
	CHECK(p.take(50).empty());
	plan = p.take(100);
	CHECK(plan.trees.at(Tree::Layers).read == std::set<std::string>{"a"});
	CHECK(kinds(p.finished(plan, {fine(Tree::Layers, {"a"})}, 120)) == std::vector{TroubleNote::ItemHealed});
	CHECK(p.troubleCount() == 0);
}

TEST_CASE("a layer half in trouble is read again with its other half, not while the other half's tree waits")
{
	Policy p({.retryFirstMs = 100});
	p.changed(Tree::Overlay, "a");
	auto plan = p.take(0);
	TreeOutcome o = fine(Tree::Overlay);
	o.troubled["a"] = {EIO, "other half: overlay-layers/RO: Input/output error"};
	p.finished(plan, {o}, 0); // a is read again at 100 ...
	p.listWanted(Tree::Layers);
	plan = p.take(50);
	p.finished(plan, {treeFailed(Tree::Layers, EIO)}, 50); // ... its other half's tree at 150
	// Read alone, the overlay half would be adopted alone; nor is the loop woken for
	// it before its other half's tree is due.
	CHECK(p.nextDueMs() == 150u);
	CHECK(p.take(100).empty());
	CHECK(p.nextDueMs() == 150u);
	plan = p.take(150);
	REQUIRE(plan.trees.count(Tree::Overlay));
	REQUIRE(plan.trees.count(Tree::Layers));
	CHECK(plan.trees.at(Tree::Overlay).read == std::set<std::string>{"a"});
	CHECK(plan.trees.at(Tree::Layers).list);
	CHECK(plan.trees.at(Tree::Layers).read == std::set<std::string>{"a"});
}

TEST_CASE("a read past its deadline is a stall, told once; its return rescans the tree")
{
	Policy p({.stallMs = 10000});
	p.listWanted(Tree::Overlay);
	auto plan = p.take(0);
	CHECK(p.nextDueMs() == 10000u);
	CHECK(p.checkStalls(9999).empty());
	auto notes = p.checkStalls(10000);
	CHECK(kinds(notes) == std::vector{TroubleNote::Stalled});
	CHECK(notes[0].error == ETIMEDOUT);
	CHECK(p.stalledCount() == 1);
	CHECK(p.checkStalls(50000).empty());
	// Meanwhile nothing more is started on that tree.
	p.changed(Tree::Overlay, "a");
	CHECK(p.take(50001).empty());
	CHECK(kinds(p.finished(plan, {fine(Tree::Overlay)}, 60000)) == std::vector{TroubleNote::StallHealed});
	CHECK(p.stalledCount() == 0);
	auto after = p.take(60001);
	CHECK(after.trees.at(Tree::Overlay).list);
	CHECK(after.trees.at(Tree::Overlay).read == std::set<std::string>{"a"});
}

TEST_CASE("overflows: a lone one is answered at once, a storm more slowly, quiet within a second")
{
	Policy p({.overflowMaxMs = 30000, .stormGapMs = 1000, .quietMs = 500});
	Validator::TreeSet all = Validator::kAllTrees;
	p.overflow(all, 0);
	auto plan = p.take(0);
	CHECK(plan.trees.size() == 3);
	p.finished(plan, {fine(Tree::Overlay), fine(Tree::Layers), fine(Tree::Images)}, 1);

	// A storm: an overflow every 100 ms for a minute.
	std::uint64_t lists = 0, lastList = 0;
	for (std::uint64_t t = 10; t <= 60000; t += 100) {
		p.overflow(all, t);
		auto storm = p.take(t);
		if (!storm.empty()) {
			++lists;
			CHECK(t - lastList <= 30000 + 100); // never starved longer than the cap
			lastList = t;
			p.finished(storm, {fine(Tree::Overlay), fine(Tree::Layers), fine(Tree::Images)}, t);
		}
	}
	CHECK(lists >= 1);
	CHECK(lists <= 20); // far fewer than the 600 overflows
	// Then quiet: the rescan comes within a second of the last overflow.
	auto due = p.nextDueMs();
	if (p.take(60000).empty()) {
		REQUIRE(due);
		CHECK(*due <= 59910 + 500);
		CHECK_FALSE(p.take(*due).empty());
	}
}

TEST_CASE("a listing that a look by name contradicts is listed again, not at once")
{
	Policy p({.retryFirstMs = 1000});
	p.listWanted(Tree::Overlay);
	auto plan = p.take(0);
	TreeOutcome o = fine(Tree::Overlay);
	o.listingStale = true;
	p.finished(plan, {o}, 5);
	CHECK(p.take(6).empty());
	CHECK(p.nextDueMs() == 1005u);
	CHECK(p.take(1005).trees.at(Tree::Overlay).list);
}

TEST_CASE("a long read that keeps moving is slow, not stalled")
{
	Policy p({.stallMs = 10000});
	p.listWanted(Tree::Images);
	auto plan = p.take(0);
	for (std::uint64_t t = 1000; t <= 60000; t += 1000) {
		p.progressed(Tree::Images, t - 500); // an item read half a second ago
		CHECK(p.checkStalls(t).empty());
	}
	// It stops moving: ten seconds later it is stalled.
	CHECK(p.checkStalls(69000).empty());
	CHECK(kinds(p.checkStalls(69500)) == std::vector{TroubleNote::Stalled});
	CHECK(p.finished(plan, {fine(Tree::Images)}, 70000).size() == 1);
}

TEST_CASE("a plan that could not be run is wanted again whole, not at once: no spin, nothing lost")
{
	Policy p({.retryFirstMs = 1000});
	p.listWanted(Tree::Images);
	p.checkWanted(Tree::Layers);
	p.changed(Tree::Overlay, "o");
	p.recheckWanted(Tree::Images, "r");
	ReadPlan plan = p.take(0);
	REQUIRE(plan.trees.size() == 3);

	p.notTaken(plan, 10);
	CHECK_FALSE(p.busy(Tree::Images));
	// Not before the wait: taken again at once, it would fail again at once.
	REQUIRE(p.nextDueMs());
	CHECK(*p.nextDueMs() == 1010);
	CHECK(p.take(500).empty());

	ReadPlan again = p.take(1010);
	REQUIRE(again.trees.size() == 3);
	CHECK(again.trees.at(Tree::Images).list);
	CHECK(again.trees.at(Tree::Images).recheck == std::set<std::string>{"r"});
	CHECK(again.trees.at(Tree::Layers).check);
	CHECK(again.trees.at(Tree::Overlay).read == std::set<std::string>{"o"});
}

TEST_CASE("a recheck and an item's retry in a plan not taken come again with the next")
{
	Policy p({.retryFirstMs = 1000});
	p.changed(Tree::Images, "bad");
	ReadPlan first = p.take(0);
	p.finished(first, {itemFailed(Tree::Images, "bad", EIO, "I/O error")}, 0);
	p.recheckWanted(Tree::Images, "r");
	ReadPlan retry = p.take(1000); // the item's retry is due
	REQUIRE(retry.trees.count(Tree::Images) == 1);
	CHECK(retry.trees.at(Tree::Images).read == std::set<std::string>{"bad"});

	p.notTaken(retry, 1000);
	ReadPlan again = p.take(2000);
	REQUIRE(again.trees.count(Tree::Images) == 1);
	CHECK(again.trees.at(Tree::Images).read == std::set<std::string>{"bad"});
	CHECK(again.trees.at(Tree::Images).recheck == std::set<std::string>{"r"});
	CHECK(p.itemError(Tree::Images, "bad") == EIO); // still in trouble until read well
}

TEST_CASE("the pending look: after a wait that doubles while items stay pending, started over by a new reason")
{
	Policy p({.pendingFirstMs = 500, .pendingMaxMs = 1500});
	auto items = [] { return std::vector<std::pair<Tree, std::string>>{{Tree::Images, "i"}, {Tree::Layers, "l"}}; };
	CHECK_FALSE(p.nextDueMs());
	p.pendingNoted(true, true, 0);
	CHECK(p.nextDueMs() == 500u);
	p.pendingNoted(true, true, 300); // a new event does not put a look already due off
	CHECK(p.nextDueMs() == 500u);
	CHECK_FALSE(p.step(499, items).pendingLooked);

	auto look = p.step(500, items);
	CHECK(look.pendingLooked);
	CHECK(look.plan.trees.at(Tree::Images).recheck == std::set<std::string>{"i"});
	CHECK(look.plan.trees.at(Tree::Layers).recheck == std::set<std::string>{"l"});
	p.finished(look.plan, {fine(Tree::Images), fine(Tree::Layers)}, 510);
	p.pendingNoted(true, false, 510);
	CHECK(p.nextDueMs() == 1510u); // doubled
	auto second = p.step(1510, items);
	CHECK(second.pendingLooked);
	p.finished(second.plan, {fine(Tree::Images), fine(Tree::Layers)}, 1510);
	p.pendingNoted(true, false, 1510);
	CHECK(p.nextDueMs() == 3010u); // capped at 1500

	auto third = p.step(3010, items);
	CHECK(third.pendingLooked);
	p.finished(third.plan, {fine(Tree::Images), fine(Tree::Layers)}, 3010);
	p.pendingNoted(true, true, 3010); // a new reason: from the first wait again
	CHECK(p.nextDueMs() == 3510u);
	p.pendingNoted(false, false, 3100); // nothing waits: no look
	CHECK_FALSE(p.nextDueMs());
}

TEST_CASE("a remote tick verifies a slice of the ready images, each once per period, the ids asked once a round")
{
	Policy p({.intervalMs = 1000, .verifyPeriodMs = 10000});
	std::vector<std::string> ids;
	for (int i = 0; i < 95; ++i)
		ids.push_back("image" + std::to_string(i));
	int rounds = 0;
	std::map<std::string, int> verified;
	for (int tick = 0; tick < 20; ++tick) {
		p.remoteTick(Tree::Images, [&] {
			++rounds;
			return ids;
		});
		ReadPlan plan = p.take(tick * 1000);
		REQUIRE(plan.trees.count(Tree::Images) == 1);
		const auto &images = plan.trees.at(Tree::Images);
		CHECK(images.check);
		CHECK_FALSE(images.list);
		CHECK(images.recheck.size() <= 10); // 95 over 10 ticks, rounded up
		for (const auto &id : images.recheck)
			++verified[id];
		p.finished(plan, {fine(Tree::Images)}, tick * 1000);
	}
	CHECK(rounds == 2);
	REQUIRE(verified.size() == ids.size());
	for (const auto &[id, times] : verified)
		CHECK_MESSAGE(times == 2, id);

	Policy whole({.verifyPeriodMs = 0});
	whole.remoteTick(Tree::Layers, [] { return std::vector<std::string>{}; });
	CHECK(whole.take(0).trees.at(Tree::Layers).list);
}

TEST_CASE("a trusted generation file: a tick that finds it unchanged is skipped, but not past the full rescan")
{
	Policy p({.fullRescanMs = 60000});
	FileId seen{.dev = 1, .ino = 7, .mtimeNs = 100};
	CHECK_FALSE(p.generationUnchanged(seen, 0)); // the first look reads
	CHECK(p.generationUnchanged(seen, 5000));
	FileId bumped = seen;
	bumped.mtimeNs = 200;
	CHECK_FALSE(p.generationUnchanged(bumped, 10000));
	CHECK(p.generationUnchanged(bumped, 15000));
	CHECK_FALSE(p.generationUnchanged(bumped, 70000)); // a full rescan is due
	FileId absent{};
	CHECK_FALSE(p.generationUnchanged(absent, 75000));
	CHECK_FALSE(p.generationUnchanged(absent, 80000)); // no file: every tick reads
}

TEST_CASE("step(): a read past its deadline is told from the step that finds it, with the plan of the others")
{
	Policy p({.stallMs = 1000});
	p.listWanted(Tree::Images);
	ReadPlan plan = p.take(0);
	p.changed(Tree::Layers, "l");
	auto step = p.step(1000, [] { return std::vector<std::pair<Tree, std::string>>{}; });
	CHECK(kinds(step.stalls) == std::vector{TroubleNote::Stalled});
	CHECK(step.plan.trees.count(Tree::Layers) == 1);
	CHECK(p.step(1500, [] { return std::vector<std::pair<Tree, std::string>>{}; }).stalls.empty()); // told once
}

// The policy's trouble notes as the host is told them: each once, items failing alike
// as one error, healings only logged.
#include "trouble_events.h"

#include <doctest/doctest.h>

using namespace lw;

namespace {

TroubleNote itemFailed(Tree tree, const std::string &id, int error)
{
	return {TroubleNote::ItemFailed, tree, id, error, id + ": " + std::strerror(error)};
}

} // namespace

TEST_CASE("one item that fails is one error naming it; many that fail alike are one error, not one each")
{
	auto one = troubleEvents({itemFailed(Tree::Images, "a", EIO)});
	REQUIRE(one.events.size() == 1);
	CHECK(one.events[0].id == "a");
	CHECK(one.events[0].tree == TreeId::Images);
	CHECK(one.events[0].code == EIO);

	auto many = troubleEvents({itemFailed(Tree::Layers, "a", EMFILE), itemFailed(Tree::Layers, "b", EMFILE),
				   itemFailed(Tree::Layers, "c", EMFILE)});
	REQUIRE(many.events.size() == 1);
	CHECK(many.events[0].id.empty());
	CHECK(many.events[0].tree == TreeId::Layers);
	CHECK(many.events[0].message.find("3 items could not be read") == 0);

	// Alike across two trees: one error, naming no tree; another errno: its own.
	auto mixed = troubleEvents({itemFailed(Tree::Layers, "a", EMFILE), itemFailed(Tree::Overlay, "a", EMFILE),
				    itemFailed(Tree::Images, "i", EIO)});
	REQUIRE(mixed.events.size() == 2);
	CHECK(mixed.events[0].code == EIO); // (by errno: EIO is 5, EMFILE 24)
	CHECK_FALSE(mixed.events[1].tree);
}

TEST_CASE("a tree that fails or stalls is an error; healing is a log line; a stall's end is a resync")
{
	auto told = troubleEvents({{TroubleNote::TreeFailed, Tree::Images, {}, EIO, "overlay-images: list: I/O error"},
				   {TroubleNote::Stalled, Tree::Overlay, {}, ETIMEDOUT, "no answer for 10000 ms"},
				   {TroubleNote::TreeHealed, Tree::Layers, {}, EIO, {}},
				   {TroubleNote::ItemHealed, Tree::Images, "a", EIO, {}},
				   {TroubleNote::StallHealed, Tree::Layers, {}, 0, {}}});
	REQUIRE(told.events.size() == 3);
	CHECK(told.events[0].type == EventType::Error);
	CHECK(told.events[0].message.find("keeping what was known of overlay-images") != std::string::npos);
	CHECK(told.events[1].code == ETIMEDOUT);
	CHECK(told.events[2].type == EventType::Resync);
	CHECK(told.events[2].resync == ResyncReason::Stalled);
	CHECK(told.resyncs == 1);
	REQUIRE(told.logLines.size() == 3);
	CHECK(told.logLines[0].second == "overlay-layers/RO: readable again");
	CHECK(told.logLines[1].second == "overlay-images/a: readable again");
}

// What a read may not be taken on yet, without a kernel or a share: a layer half whose
// other half cannot be read, an image whose top layer cannot be, and the images woken
// when that layer heals.
#include "held_back.h"

#include <doctest/doctest.h>

using namespace lw;

namespace {

const std::string kLayer(64, 'a'), kImage(64, 'b');

ReadResult readOf(Tree tree, std::vector<ItemRead> items)
{
	ReadResult r;
	r.tree = tree;
	r.items = std::move(items);
	return r;
}

ItemRead imageOn(const std::string &id, const std::string &top)
{
	ImageFiles files;
	files.info = PackedImage(ImageInfo{.id = id, .topLayer = top});
	return {id, files};
}

ItemRead layerHalf(Tree tree, const std::string &id, int ioError = 0)
{
	ItemFiles files = tree == Tree::Overlay ? ItemFiles(OverlayFiles{}) : ItemFiles(LayerFiles{});
	stateOf(files).ioError = ioError;
	return {id, files};
}

// A policy that had the layer's json half in trouble since an earlier read.
Policy layerJsonInTrouble(int err)
{
	Policy p;
	p.changed(Tree::Layers, kLayer);
	ReadPlan plan = p.take(0);
	TreeOutcome o;
	o.tree = Tree::Layers;
	o.troubled[kLayer] = {err, "layer.json: I/O error"};
	p.finished(plan, {o}, 0);
	return p;
}

} // namespace

TEST_CASE("nothing in trouble: nothing is held back")
{
	Policy policy;
	HeldBack held;
	std::vector<ReadResult> results{readOf(Tree::Images, {imageOn(kImage, kLayer)}),
					readOf(Tree::Overlay, {layerHalf(Tree::Overlay, kLayer)})};
	held.hold(results, policy);
	CHECK(stateOf(results[0].items[0].files).ioError == 0);
	CHECK(stateOf(results[1].items[0].files).ioError == 0);
}

TEST_CASE("a layer half read while its other half is in trouble is held back, naming the other half")
{
	Policy policy = layerJsonInTrouble(EIO);
	HeldBack held;
	std::vector<ReadResult> results{readOf(Tree::Overlay, {layerHalf(Tree::Overlay, kLayer)})};
	held.hold(results, policy);
	const ItemState &s = stateOf(results[0].items[0].files);
	CHECK(s.ioError == EIO);
	CHECK(s.problem.str() == "other half: Input/output error");

	// Both halves in one batch: readOtherHalves judges them together; not held here.
	std::vector<ReadResult> both{readOf(Tree::Overlay, {layerHalf(Tree::Overlay, kLayer)}),
				     readOf(Tree::Layers, {layerHalf(Tree::Layers, kLayer)})};
	held.hold(both, policy);
	CHECK(stateOf(both[0].items[0].files).ioError == 0);
}

TEST_CASE("an image whose top layer cannot be read is held back (EAGAIN), and woken when the layer heals")
{
	Policy policy = layerJsonInTrouble(EIO);
	HeldBack held;
	std::vector<ReadResult> results{readOf(Tree::Images, {imageOn(kImage, kLayer)})};
	held.hold(results, policy);
	const ItemState &s = stateOf(results[0].items[0].files);
	CHECK(s.ioError == EAGAIN);
	CHECK(s.problem.str().find("its top layer " + kLayer + " cannot be read yet") == 0);

	CHECK(held.woken({{TroubleNote::ItemHealed, Tree::Layers, std::string(64, 'c'), EIO, {}}}).empty());
	CHECK(held.woken({{TroubleNote::ItemHealed, Tree::Layers, kLayer, EIO, {}}}) == std::vector<std::string>{kImage});
	CHECK(held.woken({{TroubleNote::ItemHealed, Tree::Layers, kLayer, EIO, {}}}).empty()); // once
}

TEST_CASE("an image on a layer failing in this very read is held back; a layer tree healing wakes them all")
{
	Policy policy;
	HeldBack held;
	std::vector<ReadResult> results{readOf(Tree::Images, {imageOn(kImage, kLayer)}),
					readOf(Tree::Overlay, {layerHalf(Tree::Overlay, kLayer, EMFILE)})};
	held.hold(results, policy);
	CHECK(stateOf(results[0].items[0].files).ioError == EAGAIN);
	CHECK(held.woken({{TroubleNote::TreeHealed, Tree::Overlay, {}, EIO, {}}}) == std::vector<std::string>{kImage});

	// The layer read fine in the same batch as the image: taken together.
	std::vector<ReadResult> fine{readOf(Tree::Images, {imageOn(kImage, kLayer)}),
				     readOf(Tree::Overlay, {layerHalf(Tree::Overlay, kLayer)}),
				     readOf(Tree::Layers, {layerHalf(Tree::Layers, kLayer)})};
	Policy troubled = layerJsonInTrouble(EIO);
	held.hold(fine, troubled);
	CHECK(stateOf(fine[0].items[0].files).ioError == 0);
}

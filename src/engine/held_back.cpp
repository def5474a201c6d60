// Holding back what a read may not be taken on yet (held_back.h).
#include "held_back.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace lw {

void HeldBack::hold(std::vector<ReadResult> &results, const Policy &policy)
{
	holdHalves(results, policy);
	holdImages(results, policy);
}

// A layer half read while the other half cannot be read (its whole tree, or that
// item of it), and is not read in this batch (readOtherHalves holds back within
// one), is held back as trouble until both are read together: a layer made anew
// would otherwise be taken as its new overlay on its old layer.json (or the
// reverse), and made anew once more when the other half is read.
void HeldBack::holdHalves(std::vector<ReadResult> &results, const Policy &policy)
{
	auto inBatch = [&](Tree tree) {
		return std::any_of(results.begin(), results.end(), [&](const ReadResult &r) { return r.tree == tree; });
	};
	for (auto &r : results) {
		if (r.tree == Tree::Images || r.treeError.code)
			continue;
		Tree other = otherHalf(r.tree);
		int treeError = policy.treeError(other);
		if (inBatch(other) || (!treeError && policy.itemTroubleCount(other) == 0))
			continue;
		for (auto &item : r.items) {
			ItemState &s = stateOf(item.files);
			int err = s.ioError ? 0 : treeError ? treeError : policy.itemError(other, item.id);
			if (!err)
				continue;
			s.ioError = err;
			s.problem = treeError ? fmt::format("other half: {}: {}", treeName(other), std::strerror(err))
					      : fmt::format("other half: {}", std::strerror(err));
		}
	}
}

// An image read fine whose top layer cannot be read just now (a half of it in
// trouble in this read, or since an earlier one and not read fine in this one; or
// the whole tree of a half) is held back as trouble too. The layer keeps its last
// known state, which a layer made anew has left behind on the share; an image
// taken on that state would leave with the layer and come back once the layer is
// read: a removal the writer never made. Nothing is looked up when no layer is in
// trouble (a load, most reads).
void HeldBack::holdImages(std::vector<ReadResult> &results, const Policy &policy)
{
	// A layer tree's trouble: as this read found it, else as the policy has it.
	int treeError[2] = {policy.treeError(Tree::Overlay), policy.treeError(Tree::Layers)};
	for (const auto &r : results)
		if (r.tree != Tree::Images)
			treeError[static_cast<int>(r.tree)] = r.treeError.code;
	bool troubleNow = std::any_of(results.begin(), results.end(), [](const ReadResult &r) {
		return r.tree != Tree::Images && std::any_of(r.items.begin(), r.items.end(), [](const ItemRead &item) {
			return stateOf(item.files).ioError != 0;
		});
	});
	if (!troubleNow && !treeError[0] && !treeError[1] && policy.itemTroubleCount(Tree::Overlay) == 0 &&
	    policy.itemTroubleCount(Tree::Layers) == 0)
		return;
	std::map<std::string_view, int> failedNow;     // a half of the layer, in this read
	std::set<std::string_view> fineNow[2];         // per half: read fine, or proved gone
	for (const auto &r : results) {
		if (r.tree == Tree::Images)
			continue;
		auto &fine = fineNow[static_cast<int>(r.tree)];
		fine.insert(r.gone.begin(), r.gone.end());
		for (const auto &item : r.items)
			if (int err = stateOf(item.files).ioError)
				failedNow.emplace(item.id, err);
			else
				fine.insert(item.id);
	}
	auto layerError = [&](std::string_view layer) -> std::string {
		if (auto it = failedNow.find(layer); it != failedNow.end())
			return std::strerror(it->second);
		for (Tree half : {Tree::Overlay, Tree::Layers}) {
			int h = static_cast<int>(half);
			if (fineNow[h].count(layer))
				continue;
			if (int err = policy.itemError(half, layer))
				return std::strerror(err);
			if (treeError[h])
				return fmt::format("{}: {}", treeName(half), std::strerror(treeError[h]));
		}
		return {};
	};
	for (auto &r : results) {
		if (r.tree != Tree::Images)
			continue;
		for (auto &item : r.items) {
			auto *image = std::get_if<ImageFiles>(&item.files);
			if (!image || image->ioError || !image->problem.empty() || !image->info)
				continue;
			std::string top = image->info.topLayer();
			if (std::string why = layerError(top); !why.empty()) {
				image->ioError = EAGAIN;
				image->problem = fmt::format("its top layer {} cannot be read yet ({})", top, why);
				heldOnLayer_[top].insert(item.id);
			}
		}
	}
}

// A layer readable again (or gone), or a layer tree.
std::vector<std::string> HeldBack::woken(const std::vector<TroubleNote> &notes)
{
	std::vector<std::string> images;
	auto wake = [&](auto held) {
		images.insert(images.end(), held->second.begin(), held->second.end());
		return heldOnLayer_.erase(held);
	};
	for (const auto &n : notes) {
		if (n.tree == Tree::Images || heldOnLayer_.empty())
			continue;
		if (n.kind == TroubleNote::ItemHealed) {
			if (auto held = heldOnLayer_.find(n.id); held != heldOnLayer_.end())
				wake(held);
		} else if (n.kind == TroubleNote::TreeHealed || n.kind == TroubleNote::StallHealed) {
			for (auto held = heldOnLayer_.begin(); held != heldOnLayer_.end();)
				held = wake(held);
		}
	}
	return images;
}

} // namespace lw

// The staged validator (DESIGN.md section 2): from the files alone, which overlays,
// layers and images are ready, and for each one that is not, one reason. It keeps
// what it read, so that a rescan re-reads only ids whose identity changed and an
// event re-reads one id; verdicts are recomputed for the changed ids and what
// depends on them. Loop-bound: one thread uses it. It reads no file itself: it plans
// a ReadRequest, readTree() (tree_reader.h) reads on any thread, and adopt() takes
// the result; rescan() and refresh() do the three in one go.
#pragma once

#include "dependency_index.h"
#include "id_set.h"
#include "item_files.h"
#include "tree.h"
#include "unique_fd.h"

#include <layerwatch/result.h>

#include <array>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace lw {

// What one item's folder said, whichever tree it is in.
using ItemFiles = std::variant<OverlayFiles, LayerFiles, ImageFiles>;
inline const ItemState &stateOf(const ItemFiles &files)
{
	return std::visit([](const ItemState &s) -> const ItemState & { return s; }, files);
}
inline ItemState &stateOf(ItemFiles &files)
{
	return std::visit([](ItemState &s) -> ItemState & { return s; }, files);
}

struct Verdict {
	Verdict() = default;
	Verdict(bool ready, RareString reason, std::uint32_t depth)
		: ready(ready), depth(depth), reason(std::move(reason))
	{
	}
	bool ready = false;
	std::uint32_t depth = 0; // layers: ancestors in the chain (at most kMaxChainDepth)
	RareString reason;       // when not ready
};

// The ids whose verdicts may have changed in one step.
struct Touched {
	IdSet overlays, layers, images;
	bool empty() const { return overlays.empty() && layers.empty() && images.empty(); }
	void merge(const Touched &other);
};

struct ReadRequest;
struct ReadResult;

// Items whose own files are unusable kept in full per tree, at most: beyond it they
// are shelved (see Validator::shelved).
inline constexpr std::size_t kDefaultMaxPendingItems = 10000;

class Validator {
public:
	template <class V>
	using ById = std::unordered_map<Id, V, IdHash>;

	// rootFd stays owned by the caller and must outlive the validator (it is used
	// only by the reading shortcuts below).
	explicit Validator(int rootFd, std::size_t maxPendingItems = kDefaultMaxPendingItems);

	// What to read of one tree: with list, the whole tree (what is known is copied
	// in, to be compared); read, ids to read whatever their identity; recheck, ids
	// to read only if their identity changed.
	ReadRequest plan(Tree tree, bool list, const std::vector<std::string> &read = {},
			 const std::vector<std::string> &recheck = {}) const;
	// Takes what was read: gone ids are forgotten, read ones adopted; trouble
	// (ioError) keeps the last known state. Returns what may have changed.
	Touched adopt(ReadResult result);
	// Several trees read together, judged once all are in: an image is not judged
	// against a tree not yet adopted (a load would judge every image's top layer
	// missing, then every layer's overlay, and keep those reasons until the next).
	Touched adopt(std::vector<ReadResult> results);

	// Lists the three trees (reopened each time, so a remount is picked up), re-reads
	// the ids whose identity changed and forgets the ones proved gone. A tree that
	// cannot be listed keeps what was known and its error is returned in errors, as
	// is every item that could not be read. trees selects which of the three.
	using TreeSet = std::array<bool, 3>;
	static constexpr TreeSet kAllTrees = {true, true, true};
	Touched rescan(std::vector<Error> *errors = nullptr, TreeSet trees = kAllTrees);

	// Re-reads one id of one tree, as after an event on it (tests; the engine plans).
	Touched refresh(Tree tree, const std::string &id);

	// An overlay's verdict is its files' problem, if any: made when asked.
	std::optional<Verdict> overlayVerdict(const Id &id) const;
	const Verdict *layerVerdict(const Id &id) const;
	const Verdict *imageVerdict(const Id &id) const;

	const OverlayFiles *overlay(const Id &id) const;
	const LayerFiles *layer(const Id &id) const;
	const ImageFiles *image(const Id &id) const;
	// The same by hex id (none for one that is not an id).
	const Verdict *layerVerdict(const std::string &id) const;
	const Verdict *imageVerdict(const std::string &id) const;
	const OverlayFiles *overlay(const std::string &id) const;
	const LayerFiles *layer(const std::string &id) const;
	const ImageFiles *image(const std::string &id) const;

	// Who stands on a layer, by the files as last read: its child layers, the images
	// whose top layer it is.
	const Dependants *childrenOf(const Id &layer) const { return childrenOf_.find(layer); }
	const Dependants *imagesOn(const Id &layer) const { return imagesOf_.find(layer); }

	// The store's record of a layer or image committed: kept in place of an equal
	// one read again, so that each record is held once.
	void shareCommitted(const Id &id, const PackedLayer &committed);
	void shareCommitted(const Id &id, const PackedImage &committed);

	// What is kept in full of an item (not a shelved one); holds() says whether the
	// tree has the id at all.
	const ItemState *known(Tree tree, const std::string &id) const;
	bool holds(Tree tree, const std::string &id) const;
	// Changes whenever what is known of the tree changes: a plan made at the same
	// version may be reused (idle ticks copy nothing).
	std::uint64_t version(Tree tree) const { return versions_[static_cast<int>(tree)]; }
	// The ids known in a tree, in no particular order.
	std::vector<std::string> ids(Tree tree) const;

	// A share full of junk must not cost memory without bound (BEHAVIOUR.md, "Bounded
	// cost of junk"): once a tree holds maxPendingItems items whose own files are
	// unusable, each further one is shelved. Only its identity is kept, so that a
	// change to it is noticed and it is read again; what was read and its verdict are
	// not. It is counted and listed as pending with shelvedReason(). Readiness does
	// not suffer: an item with unusable files can become ready only by a change to
	// them, which changes its identity.
	const ById<Identity> &shelved(Tree tree) const
	{
		return shelved_[static_cast<int>(tree)];
	}
	bool isShelved(Tree tree, const std::string &id) const;
	std::string shelvedReason(Tree tree) const;

	// Layers whose overlay-layers/RO half (with their parent as last read), and
	// images, that were let go since the last call: read again, or gone (holds()
	// tells which).
	struct Forgotten {
		ById<std::optional<Id>> layers;
		IdSet images;
	};
	Forgotten takeForgotten() { return std::exchange(forgotten_, {}); }

private:
	// A layer's two halves and its verdict, in one slot (three maps cost a node, a key
	// and a bucket each): the overlay from overlay/RO, the layer.json from
	// overlay-layers/RO, either of which may be missing. A slot with neither half
	// goes when its layer is judged next (settle()).
	struct KeptLayer {
		OverlayFiles overlay;
		LayerFiles layer;
		Verdict verdict;
		bool hasOverlay = false, hasLayer = false, judged = false;

		// The half of a layer tree, when it is held.
		const ItemState *half(Tree tree) const
		{
			if (tree == Tree::Overlay)
				return hasOverlay ? &overlay : nullptr;
			return hasLayer ? &layer : nullptr;
		}
	};

	Touched readNow(const ReadRequest &request, std::vector<Error> *errors);
	void adoptItems(ReadResult result, Touched &touched);
	void adopt(Tree tree, const Id &id, ItemFiles files, Touched &touched);
	void forget(Tree tree, const Id &id, Touched &touched);
	void settle(Touched &touched);
	const KeptLayer *keptLayer(const Id &id) const;
	bool holdsLayer(const Id &id) const; // either half
	const Verdict &evaluateLayer(const Id &id);
	Verdict judgeLayer(const Id &id) const;
	Verdict judgeImage(const Id &id);
	void claim(const Id &id, const OverlayFiles &overlay, Touched &touched);
	void unclaim(const Id &id, const OverlayFiles &overlay, Touched &touched);
	void chooseHolder(const ShortLink &link);
	const ItemState *known(Tree tree, const Id &id) const;
	// What a plan carries of the images pending on their manifest alone (ImageFiles::
	// restChecked): every one for a listing, else those it reads.
	void attachPartlyRead(ReadRequest &request) const;

	bool shelve(Tree tree, const Id &id, const ItemState &state);
	std::string shelvedHalf(Tree tree, const Id &id) const;

	int rootFd_;
	std::size_t maxPendingItems_;
	std::uint64_t versions_[3] = {};
	// Per tree: items kept in full whose own files are unusable, and the shelf.
	std::size_t unusable_[3] = {};
	ById<Identity> shelved_[3];
	ById<KeptLayer> layers_;
	// An image's verdict depends on its files and its top layer's: kept with its
	// files.
	struct KeptImage : ImageFiles {
		Verdict verdict;
	};
	ById<KeptImage> images_;
	// Who depends on whom, from the files as last read.
	DependencyIndex childrenOf_, imagesOf_;
	// Short links: the usable overlays naming each link, and which of them holds it.
	// The holder keeps it while it names it; a new holder is the earliest claimant
	// (linkBornNs, then id), so that no listing order and no newcomer can take a link
	// from a layer that has it (BEHAVIOUR.md, "Readiness and reasons").
	// A link's only claimant holds it without an entry here (most links have one).
	ClaimIndex claimsOf_;
	std::unordered_map<ShortLink, Id, ShortLinkHash> holderOf_;
	// Overlays claimed in this step (one adopt() of a read): no holder yet.
	std::unordered_set<Id, IdHash> claimedInStep_;
	// Images pending on their manifest alone (ImageFiles::restChecked): a plan carries
	// them, so that their manifest's arrival is read alone.
	std::unordered_set<Id, IdHash> partlyRead_;
	// Let go since takeForgotten().
	Forgotten forgotten_;
};

} // namespace lw

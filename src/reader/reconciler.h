// Reconcile: turns the validator's verdicts into an ordered set of store updates and
// local links (DESIGN.md sections 2 and 3). Removals first (images, then layers
// children-first; links go after the store lets go), then additions (layers
// parent-first, links made before the store shows them; then images). An image
// whose files change in place is updated; a folder recreated under the same id is
// removed and added. Loop-bound: one thread.
#pragma once

#include "identity.h"
#include "store_state.h"
#include "tree_reader.h"
#include "validator.h"

#include <layerwatch/events.h>
#include <layerwatch/store.h>

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lw {

struct ReconcileOptions {
	// Make and remove local links. Off for a pure reader (`layerwatch scan`) and
	// for hosts whose engine makes its own links.
	bool commitLinks = true;
	// Tell EventType::Gone for items never committed whose folder left the share.
	bool tellGone = false;
	// Items with unusable files kept in full per tree (Validator::shelved).
	std::size_t maxPendingItems = kDefaultMaxPendingItems;
};

// The records of a batch's events (Event::layer, Event::image), left to be made as
// each event is told: a load's thousands of LayerInfo and ImageInfo are then never all
// held at once. Each is listed with its event's index, in order.
struct EventRecords {
	std::vector<std::pair<std::size_t, detail::CommittedLayer>> layers;
	std::vector<std::pair<std::size_t, PackedImage>> images;

	// Events were put before them.
	void shift(std::size_t by);
	// Fills in every record now.
	void fillAll(std::vector<Event> &events) const;
};

class Reconciler {
public:
	// rootFd stays owned by the caller.
	Reconciler(int rootFd, Store &store, ReconcileOptions options = {});

	// Start-up, all at once on this thread: removes dangling local links into RO/
	// (when committing links), then a full rescan.
	std::vector<Event> initialLoad();
	// Takes what readTree() read (on whatever thread) and reconciles it all at once.
	// With deferred, the events' records are left for the caller to make as it tells
	// them (EventRecords), else they are filled in.
	std::vector<Event> adopt(std::vector<ReadResult> results, EventRecords *deferred = nullptr);
	// A rescan of some trees (all by default): changed identities only.
	std::vector<Event> rescan(Validator::TreeSet trees = Validator::kAllTrees);

	const Validator &validator() const { return validator_; }
	// Pending items, shelved ones included.
	std::size_t pendingCount() const;
	// Every pending item, by kind then id, then the shelved ones.
	std::vector<PendingItem> pending() const;
	// Ready items whose commit failed and waits for another try.
	bool hasRetries() const { return !retry_.empty(); }

private:
	std::vector<Event> apply(Touched touched, EventRecords *deferred = nullptr);
	void reportPending(const Touched &touched, const std::set<Id> &removedLayers, std::vector<Event> &events);
	// The Gone events of what the validator let go and no longer holds, never
	// committed: images, and layers children-first.
	void tellGone(Validator::Forgotten forgotten, const detail::StoreState &committed, std::vector<Event> &images,
		      std::vector<Event> &layers) const;
	// A commit problem no longer stands (most items never had one: no key is made).
	void forgetCommitProblem(ItemKind kind, const Id &id);
	void notePending(ItemKind kind, const std::string &id, const std::string &reason, std::vector<Event> &events);
	// Shelved items told by reported_ already (a layer one half of which is in full).
	bool shelvedAndReported(Tree tree, const std::string &id) const;

	int rootFd_;
	Store &store_;
	ReconcileOptions options_;
	Validator validator_;
	// Ready items that could not be committed yet (a link failed): tried again.
	Touched retry_;
	// The reason last reported for each pending item, so each is told once.
	std::map<std::pair<ItemKind, std::string>, std::string> reported_;
	// Reasons that come from committing rather than from the files.
	std::map<std::pair<ItemKind, std::string>, std::string> commitProblems_;

};

} // namespace lw

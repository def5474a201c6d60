// The engine's decisions, apart from the kernel, the loop and the clock: which ids
// of which tree to read and when, what is merged while a read is in flight, how
// trouble backs off, when a read counts as stalled, and how overflows are answered.
// Unit tests drive it with a fake source and a fake clock (test/unit/policy_test).
// Loop-bound: one thread.
#pragma once

#include "validator.h"

#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

struct PolicyOptions {
	// A read that has not come back after this long marks its trees stalled.
	std::uint64_t stallMs = 10000;
	// Trouble (a tree or an item that could not be read) is tried again after
	// retryFirstMs, doubling up to retryMaxMs (or retryFirstMs, when that is more).
	std::uint64_t retryFirstMs = 1000, retryMaxMs = 30000;
	// Overflows less than stormGapMs apart are a storm, answered more and more
	// slowly, up to overflowMaxMs; once the queue has been quiet for quietMs the
	// rescan comes at once.
	std::uint64_t overflowMaxMs = 30000, stormGapMs = 1000, quietMs = 500;
	// Pending items are looked at again after pendingFirstMs, doubling up to
	// pendingMaxMs while they stay pending; a new pending reason starts it over.
	std::uint64_t pendingFirstMs = 500, pendingMaxMs = 30000;
	// A remote tree's tick (every intervalMs) verifies a slice of its ready images, so
	// that each is verified once per verifyPeriodMs; 0: every tick lists it whole.
	std::uint64_t intervalMs = 5000, verifyPeriodMs = 300000;
	// With a trusted generation file: a full rescan at least this often.
	std::uint64_t fullRescanMs = 60000;
	// Content watches held for pending items, at most (beyond, the pending look).
	std::size_t maxPendingWatches = 1024;
};

// One read to run off the loop: for each tree it covers, what to read.
struct ReadPlan {
	struct TreePlan {
		bool list = false;
		bool check = false; // list only if the tree folder changed (a remote tick)
		std::set<std::string> read, recheck;
	};
	std::map<Tree, TreePlan> trees;
	bool empty() const { return trees.empty(); }
};

// What a finished read said of one tree, for the policy's bookkeeping.
struct TreeOutcome {
	Tree tree = Tree::Overlay;
	int treeError = 0;            // the tree could not be read at all
	std::string treeMessage;
	bool listingStale = false;     // list it again soon: a cached listing lied
	std::map<std::string, std::pair<int, std::string>> troubled; // id -> errno, message
	// Ids read (or proved gone) without trouble: views of the read's own ids, which
	// outlive the call to finished() (a load's tens of thousands, copied, were so many
	// strings made and let go among what the load keeps).
	std::vector<std::string_view> readFine;
};

// What changed in the trouble the engine tells its host about: each once.
struct TroubleNote {
	enum Kind { TreeFailed, TreeHealed, ItemFailed, ItemHealed, Stalled, StallHealed } kind;
	Tree tree;
	std::string id; // items
	int error = 0;
	std::string message;
};

class Policy {
public:
	explicit Policy(PolicyOptions options = {}) : options_(options) {}

	// Inputs: an event on one id; a tree to list again (a tick, a lost watch); a
	// pending item to look at (read only if its identity changed); an overflow.
	void changed(Tree tree, const std::string &id);
	void listWanted(Tree tree);
	void checkWanted(Tree tree);
	void recheckWanted(Tree tree, const std::string &id);
	void overflow(Validator::TreeSet trees, std::uint64_t nowMs);
	// A remote tree's tick: its folder looked at, and for images a slice of the ready
	// ones verified (a re-tag renames images.json inside its folder; ready overlays
	// and layers are never edited in place). ids: the tree's items, asked for when a
	// round of the rotation begins.
	void remoteTick(Tree tree, const std::function<std::vector<std::string>()> &ids);
	// After a batch was told: whether anything is left waiting (pending items, or a
	// commit to retry), and whether the batch told a new pending reason.
	void pendingNoted(bool waiting, bool newReason, std::uint64_t nowMs);
	// With a trusted generation file: whether a tick that found the file as seen may
	// be skipped (unchanged since the last look, and no full rescan due).
	bool generationUnchanged(const FileId &seen, std::uint64_t nowMs);
	// Whether one more content watch may be held for a pending item.
	bool pendingWatchAllowed(std::size_t held) const { return held < options_.maxPendingWatches; }

	// The loop's one entry, at nowMs: the reads past their deadline (each told once);
	// the pending items looked at again when that is due (pendingItems names them);
	// then take()'s plan.
	struct Step {
		std::vector<TroubleNote> stalls;
		bool pendingLooked = false;
		ReadPlan plan;
	};
	using PendingItems = std::function<std::vector<std::pair<Tree, std::string>>()>;
	Step step(std::uint64_t nowMs, const PendingItems &pendingItems);

	// Everything wanted of the trees that are free now (no read in flight, no
	// backoff running), as one plan; those trees are then busy until finished().
	ReadPlan take(std::uint64_t nowMs);
	// A plan could not be run (no worker to be had): all of it is wanted again, its
	// trees held back until retryFirstMs from now (taken again at once, it would fail
	// again at once: a spin).
	void notTaken(const ReadPlan &plan, std::uint64_t nowMs);
	// A plan's read came back. Returns the trouble that appeared or healed.
	std::vector<TroubleNote> finished(const ReadPlan &plan, const std::vector<TreeOutcome> &outcomes,
					  std::uint64_t nowMs);
	// A read in flight on tree got somewhere at nowMs (an item read): the stall
	// deadline counts from there. A read is stalled when it stops moving, not when it
	// is long (a first load of a large store over a slow network).
	void progressed(Tree tree, std::uint64_t atMs);
	// Reads in flight past the stall deadline, each told once.
	std::vector<TroubleNote> checkStalls(std::uint64_t nowMs);

	// When step() may next have something that is held back now (a retry, an
	// overflow's backoff, a stall deadline, the pending look); nullopt: nothing is
	// waiting on time.
	std::optional<std::uint64_t> nextDueMs() const;

	bool busy(Tree tree) const { return lane(tree).busySince.has_value(); }
	bool troubled(Tree tree) const { return lane(tree).treeError != 0 || !lane(tree).items.empty(); }
	// Why the whole tree cannot be read now: the errno its last read failed with, or
	// ETIMEDOUT while its read is stalled; 0: neither.
	int treeError(Tree tree) const
	{
		return lane(tree).treeError ? lane(tree).treeError : lane(tree).stallTold ? ETIMEDOUT : 0;
	}
	bool stalled(Tree tree) const { return lane(tree).stallTold; }
	std::size_t stalledCount() const;
	std::size_t troubleCount() const;
	// Items of one tree in trouble now, and the errno one of them last failed with (0:
	// not in trouble).
	std::size_t itemTroubleCount(Tree tree) const { return lane(tree).items.size(); }
	int itemError(Tree tree, std::string_view id) const;

private:
	struct ItemTrouble {
		int error = 0;
		std::uint64_t backoffMs = 0, retryAtMs = 0;
	};
	struct Lane {
		bool wantList = false, wantCheck = false;
		std::set<std::string> wantRead, wantRecheck;
		std::optional<std::uint64_t> busySince;
		bool stallTold = false;
		int treeError = 0;
		std::uint64_t treeBackoffMs = 0, treeRetryAtMs = 0;
		std::uint64_t listNotBeforeMs = 0; // a relisting held back (a cached listing)
		std::uint64_t notBeforeMs = 0;     // nothing taken before (a plan not taken)
		std::map<std::string, ItemTrouble, std::less<>> items; // (looked up by a view)
		// Overflow answering: when the first unanswered one came, the last one, and
		// the backoff that grows while they keep coming.
		std::optional<std::uint64_t> overflowSince;
		std::uint64_t lastOverflowMs = 0, overflowBackoffMs = 0;
		bool overflowSeen = false;
	};
	// The remote tick's rotation of ready images, and where it stands.
	std::vector<std::string> rotation_;
	std::size_t rotationAt_ = 0;
	// The pending look: when it is due (none while nothing waits), and the wait after.
	std::optional<std::uint64_t> pendingDueMs_;
	std::uint64_t pendingWaitMs_ = 0;
	// The generation file as the last look saw it, and when the last full rescan was.
	std::optional<FileId> lastGeneration_;
	std::uint64_t lastFullRescanMs_ = 0;

	Lane &lane(Tree tree) { return lanes_[static_cast<int>(tree)]; }
	const Lane &lane(Tree tree) const { return lanes_[static_cast<int>(tree)]; }
	std::uint64_t listDueMs(const Lane &l) const;
	// When take() may read a lane again: at once (0), after its tree's retry or a plan
	// not taken, or not while a read of it is in flight (nullopt: its return
	// dispatches again).
	static std::optional<std::uint64_t> readableAtMs(const Lane &l)
	{
		if (l.busySince)
			return std::nullopt;
		return std::max(l.treeError ? l.treeRetryAtMs : 0, l.notBeforeMs);
	}

	std::uint64_t backoff(std::uint64_t current) const;

	PolicyOptions options_;
	Lane lanes_[3];
};

} // namespace lw

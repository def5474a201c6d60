// A policy's plan as the reads a worker runs, and what they said as the policy's
// outcomes: pure translations that the watcher wires between the policy, the
// executor and the reconciler.
#pragma once

#include "policy.h"
#include "tree_reader.h"

#include <layerwatch/result.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace lw {

// What the engine knows of one tree when it plans a read of it.
struct TreeFacts {
	bool remote = false; // another host writes it: looks ask the server
	TreeStamp stamp;     // its folder as the last listing saw it
	long fsMagic = 0;    // the filesystem it must stay on (0: not known yet)
};

struct ReadBatch {
	std::vector<ReadRequest> requests; // in the plan's tree order
	bool anyList = false;              // a tree listed or looked at: a rescan
	bool remoteLook = false;           // a remote tree listed or looked at (a tick)
	std::size_t readAlone = 0;         // ids read by name, without a listing
};

using KnownFn = std::function<std::shared_ptr<const std::vector<ReadRequest::Known>>(Tree)>;

// The requests for plan. known: what is known of a tree, for its listing. progress
// and calls are shared by every request (calls by remote trees' only).
ReadBatch requestsFor(const ReadPlan &plan, const Validator &validator, const std::array<TreeFacts, 3> &facts,
		      std::uint32_t remoteReads, const KnownFn &known,
		      const std::shared_ptr<std::atomic<std::int64_t>> &progress,
		      const std::shared_ptr<std::atomic<std::uint64_t>> &calls);

// A worker's part: the start-up removal of dangling links first (when asked), then
// the trees read. linkError: that removal failed (links are kept).
struct BatchRead {
	std::vector<ReadResult> results;
	std::optional<Error> linkError;
};
BatchRead readBatch(int rootFd, const std::vector<ReadRequest> &requests, bool removeDanglingLinks,
		    const CancelFlag &cancel);

// The first load's plan in the parts read apart, each on its own worker: a layer's two
// halves (overlay, layers: read together, see readOtherHalves) and the images. A
// server that stalls on one part holds back neither the other nor `ready` past its
// stall deadline. Only a plan with a tree not loaded yet is split; a later plan reads
// its trees together, images first, so that an image seen has its layers seen too.
std::vector<ReadPlan> splitForLoad(ReadPlan plan, const std::array<bool, 3> &treeLoaded);

// Whether plan reads a tree whose first read was not adopted yet: a part of the load.
bool partOfLoad(const ReadPlan &plan, const std::array<bool, 3> &treeLoaded);

// What a read said of its tree, for the policy's bookkeeping. The outcome's views
// are of r's ids: r must outlive it.
TreeOutcome outcomeOf(const ReadResult &r);

// How many items a plan and its results cover (a batch large enough to trim after).
std::size_t coveredItems(const ReadPlan &plan, const std::vector<ReadResult> &results);

} // namespace lw

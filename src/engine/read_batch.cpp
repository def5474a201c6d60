// A plan as read requests, the worker's reading, results as outcomes.
#include "read_batch.h"

#include "local_links.h"

#include <algorithm>

namespace lw {

ReadBatch requestsFor(const ReadPlan &plan, const Validator &validator, const std::array<TreeFacts, 3> &facts,
		      std::uint32_t remoteReads, const KnownFn &known,
		      const std::shared_ptr<std::atomic<std::int64_t>> &progress,
		      const std::shared_ptr<std::atomic<std::uint64_t>> &calls)
{
	ReadBatch batch;
	for (const auto &[tree, p] : plan.trees) {
		const TreeFacts &f = facts[static_cast<int>(tree)];
		std::vector<std::string> read(p.read.begin(), p.read.end());
		std::vector<std::string> recheck(p.recheck.begin(), p.recheck.end());
		ReadRequest request = validator.plan(tree, false, read, recheck);
		if (p.list || p.check) {
			request.list = true;
			request.known = known(tree);
		} else {
			batch.readAlone += read.size();
		}
		// A remote tick lists only a changed tree, and then looks only at what may
		// still be arriving, and at every overlay (one made anew under its id between
		// two ticks has a new link); anything else looks at everything.
		request.checkFirst = p.check && !p.list;
		request.probeSettled = !f.remote || p.list || tree == Tree::Overlay;
		request.last = f.stamp;
		request.forceFresh = f.remote;
		request.expectFsMagic = f.fsMagic;
		request.parallel = f.remote ? std::max<std::uint32_t>(remoteReads, 1) : 4;
		request.progress = progress;
		if (f.remote)
			request.calls = calls;
		batch.remoteLook = batch.remoteLook || (f.remote && (p.check || p.list));
		batch.anyList = batch.anyList || p.list || p.check;
		batch.requests.push_back(std::move(request));
	}
	return batch;
}

BatchRead readBatch(int rootFd, const std::vector<ReadRequest> &requests, bool removeDanglingLinks,
		    const CancelFlag &cancel)
{
	BatchRead out;
	if (removeDanglingLinks)
		if (auto removed = links::removeDangling(rootFd); !removed)
			out.linkError = removed.error();
	// Trees in the reverse of the order writers fill them (overlay, layer, image): an
	// image seen here has its layers' new folders seen too, in this same batch; read
	// the other way, a layer made anew just before its image would show a tick late,
	// and take the image out and back.
	for (auto request = requests.rbegin(); request != requests.rend(); ++request)
		out.results.push_back(readTree(rootFd, *request, cancel));
	readOtherHalves(rootFd, requests, out.results, cancel);
	return out;
}

bool partOfLoad(const ReadPlan &plan, const std::array<bool, 3> &treeLoaded)
{
	return std::any_of(plan.trees.begin(), plan.trees.end(),
			   [&](const auto &p) { return !treeLoaded[static_cast<int>(p.first)]; });
}

std::vector<ReadPlan> splitForLoad(ReadPlan plan, const std::array<bool, 3> &treeLoaded)
{
	std::vector<ReadPlan> parts;
	auto images = plan.trees.find(Tree::Images);
	if (partOfLoad(plan, treeLoaded) && images != plan.trees.end() && plan.trees.size() > 1) {
		ReadPlan alone;
		alone.trees.insert(plan.trees.extract(images));
		parts.push_back(std::move(plan));
		parts.push_back(std::move(alone));
	} else if (!plan.empty()) {
		parts.push_back(std::move(plan));
	}
	return parts;
}

TreeOutcome outcomeOf(const ReadResult &r)
{
	TreeOutcome o;
	o.tree = r.tree;
	o.treeError = r.treeError.code;
	o.treeMessage = r.treeError.message;
	o.listingStale = r.listingStale;
	o.readFine.assign(r.gone.begin(), r.gone.end());
	for (const auto &item : r.items) {
		const ItemState &s = stateOf(item.files);
		if (s.ioError)
			o.troubled[item.id] = {s.ioError, s.problem};
		else
			o.readFine.push_back(item.id);
	}
	return o;
}

std::size_t coveredItems(const ReadPlan &plan, const std::vector<ReadResult> &results)
{
	std::size_t n = 0;
	for (const auto &[tree, p] : plan.trees)
		n += p.read.size() + p.recheck.size();
	for (const auto &r : results)
		n += r.items.size() + r.gone.size();
	return n;
}

} // namespace lw

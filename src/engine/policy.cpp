// What to read and when: coalescing, backoff, stalls, overflows.
#include "policy.h"

#include <algorithm>

namespace lw {

void Policy::changed(Tree tree, const std::string &id)
{
	lane(tree).wantRead.insert(id);
}

void Policy::listWanted(Tree tree)
{
	lane(tree).wantList = true;
}

void Policy::checkWanted(Tree tree)
{
	lane(tree).wantCheck = true;
}

void Policy::recheckWanted(Tree tree, const std::string &id)
{
	lane(tree).wantRecheck.insert(id);
}

void Policy::overflow(Validator::TreeSet trees, std::uint64_t nowMs)
{
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		if (!trees[static_cast<int>(tree)])
			continue;
		Lane &l = lane(tree);
		// One that comes while the last is still fresh is part of a storm: answer
		// it more slowly; a lone one at once.
		bool storm = l.overflowSeen && nowMs - l.lastOverflowMs < options_.stormGapMs;
		l.overflowBackoffMs = storm ? std::min(options_.overflowMaxMs, std::max<std::uint64_t>(l.overflowBackoffMs * 2, 250))
					    : 0;
		if (!l.overflowSince)
			l.overflowSince = nowMs;
		l.lastOverflowMs = nowMs;
		l.overflowSeen = true;
		l.wantList = true;
	}
}

void Policy::remoteTick(Tree tree, const std::function<std::vector<std::string>()> &ids)
{
	if (options_.verifyPeriodMs == 0)
		return listWanted(tree);
	checkWanted(tree);
	if (tree != Tree::Images)
		return;
	if (rotationAt_ >= rotation_.size()) {
		rotation_ = ids();
		rotationAt_ = 0;
	}
	// Rounded up: every image within the period, however few ticks it holds.
	std::size_t slice = (rotation_.size() * options_.intervalMs + options_.verifyPeriodMs - 1) / options_.verifyPeriodMs;
	for (std::size_t end = std::min(rotation_.size(), rotationAt_ + slice); rotationAt_ < end; ++rotationAt_)
		recheckWanted(tree, rotation_[rotationAt_]);
}

void Policy::pendingNoted(bool waiting, bool newReason, std::uint64_t nowMs)
{
	if (!waiting) {
		pendingDueMs_.reset();
		pendingWaitMs_ = 0;
		return;
	}
	if (newReason || pendingWaitMs_ == 0)
		pendingWaitMs_ = options_.pendingFirstMs;
	// A look already due stays where it is: new events do not put it off.
	if (!pendingDueMs_)
		pendingDueMs_ = nowMs + pendingWaitMs_;
}

bool Policy::generationUnchanged(const FileId &seen, std::uint64_t nowMs)
{
	bool fullDue = nowMs - lastFullRescanMs_ >= options_.fullRescanMs;
	if (seen.ino != 0 && !seen.error && lastGeneration_ && *lastGeneration_ == seen && !fullDue)
		return true;
	lastGeneration_ = seen;
	lastFullRescanMs_ = nowMs;
	return false;
}

Policy::Step Policy::step(std::uint64_t nowMs, const PendingItems &pendingItems)
{
	Step s;
	s.stalls = checkStalls(nowMs);
	if (pendingDueMs_ && *pendingDueMs_ <= nowMs) {
		for (const auto &[tree, id] : pendingItems())
			recheckWanted(tree, id);
		pendingDueMs_.reset(); // the next comes with what this look tells (pendingNoted)
		pendingWaitMs_ = std::min(options_.pendingMaxMs, pendingWaitMs_ * 2);
		s.pendingLooked = true;
	}
	s.plan = take(nowMs);
	return s;
}

std::uint64_t Policy::backoff(std::uint64_t current) const
{
	// The cap is never below the first wait: a retryMs above it doubles no further
	// rather than shrinking to the cap.
	std::uint64_t cap = std::max(options_.retryMaxMs, options_.retryFirstMs);
	return current == 0 ? options_.retryFirstMs : std::min(cap, current * 2);
}

std::uint64_t Policy::listDueMs(const Lane &l) const
{
	std::uint64_t due = std::max(l.listNotBeforeMs, l.notBeforeMs);
	if (l.treeError)
		due = std::max(due, l.treeRetryAtMs);
	if (l.overflowSince && l.overflowBackoffMs > 0) {
		// Quiet for a moment, or waited out the backoff: whichever comes first.
		std::uint64_t quiet = l.lastOverflowMs + std::min(l.overflowBackoffMs, options_.quietMs);
		due = std::max(due, std::min(quiet, *l.overflowSince + l.overflowBackoffMs));
	}
	return due;
}

ReadPlan Policy::take(std::uint64_t nowMs)
{
	ReadPlan plan;
	auto waiting = [&](const Lane &l) { // in flight, or unreadable and waiting for its retry
		auto at = readableAtMs(l);
		return !at || *at > nowMs;
	};
	// Items due for a retry, first for every tree, so that a layer's two halves are
	// retried together: read one alone and its other half's change would show a read
	// later, as a second removal (see readOtherHalves).
	// (Not while the other half's tree waits: the half read alone would be adopted
	// alone.)
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		Lane &l = lane(tree);
		if (waiting(l) || (tree != Tree::Images && waiting(lane(otherHalf(tree)))))
			continue;
		for (auto &[id, trouble] : l.items)
			if (trouble.retryAtMs <= nowMs) {
				l.wantRead.insert(id);
				if (tree != Tree::Images)
					lane(otherHalf(tree)).wantRead.insert(id);
				trouble.retryAtMs = UINT64_MAX; // until this read comes back
			}
	}
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		Lane &l = lane(tree);
		if (waiting(l))
			continue;
		ReadPlan::TreePlan p;
		if (l.wantList && listDueMs(l) <= nowMs) {
			p.list = true;
			l.wantList = false;
			l.overflowSince.reset(); // the backoff stays while the storm goes on
			l.wantCheck = false;
		} else if (l.wantCheck) {
			p.check = true;
			l.wantCheck = false;
		}
		// Taken whole, not copied: what is read need not be rechecked.
		p.read.swap(l.wantRead);
		for (const auto &id : p.read)
			l.wantRecheck.erase(id);
		p.recheck.swap(l.wantRecheck);
		if (!p.list && !p.check && p.read.empty() && p.recheck.empty())
			continue;
		l.busySince = nowMs;
		plan.trees.emplace(tree, std::move(p));
	}
	return plan;
}

void Policy::notTaken(const ReadPlan &plan, std::uint64_t nowMs)
{
	for (const auto &[tree, asked] : plan.trees) {
		Lane &l = lane(tree);
		l.busySince.reset();
		l.notBeforeMs = nowMs + options_.retryFirstMs;
		l.wantList = l.wantList || asked.list;
		l.wantCheck = l.wantCheck || asked.check;
		l.wantRead.insert(asked.read.begin(), asked.read.end());
		l.wantRecheck.insert(asked.recheck.begin(), asked.recheck.end());
		// Items whose retry this plan was: due again with it.
		for (auto &[id, trouble] : l.items)
			if (trouble.retryAtMs == UINT64_MAX)
				trouble.retryAtMs = l.notBeforeMs;
	}
}

std::vector<TroubleNote> Policy::finished(const ReadPlan &plan, const std::vector<TreeOutcome> &outcomes,
					  std::uint64_t nowMs)
{
	std::vector<TroubleNote> notes;
	for (const auto &[tree, asked] : plan.trees) {
		Lane &l = lane(tree);
		l.busySince.reset();
		if (l.stallTold) {
			// The server answers again: look at the whole tree.
			l.stallTold = false;
			l.wantList = true;
			notes.push_back({TroubleNote::StallHealed, tree, {}, 0, {}});
		}
		auto outcome = std::find_if(outcomes.begin(), outcomes.end(), [t = tree](const TreeOutcome &o) { return o.tree == t; });
		if (outcome == outcomes.end())
			continue;
		if (outcome->treeError) {
			if (l.treeError != outcome->treeError)
				notes.push_back({TroubleNote::TreeFailed, tree, {}, outcome->treeError, outcome->treeMessage});
			l.treeError = outcome->treeError;
			l.treeBackoffMs = backoff(l.treeBackoffMs);
			l.treeRetryAtMs = nowMs + l.treeBackoffMs;
			// Nothing asked is lost: all of it comes again with the retry.
			l.wantList = true;
			l.wantRead.insert(asked.read.begin(), asked.read.end());
			l.wantRecheck.insert(asked.recheck.begin(), asked.recheck.end());
			for (auto &[id, trouble] : l.items)
				trouble.retryAtMs = std::min(trouble.retryAtMs, l.treeRetryAtMs);
			continue;
		}
		if (l.treeError)
			notes.push_back({TroubleNote::TreeHealed, tree, {}, l.treeError, {}});
		l.treeError = 0;
		l.treeBackoffMs = 0;
		if (outcome->listingStale) {
			// A cached listing missed what a look by name found: list again soon,
			// not at once (the cache may hold for a while).
			l.wantList = true;
			l.listNotBeforeMs = nowMs + options_.retryFirstMs;
		}
		for (const auto id : outcome->readFine)
			if (auto it = l.items.find(id); it != l.items.end()) {
				notes.push_back({TroubleNote::ItemHealed, tree, it->first, it->second.error, {}});
				l.items.erase(it);
			}
		for (const auto &[id, trouble] : outcome->troubled) {
			auto &t = l.items[id];
			if (t.error != trouble.first)
				notes.push_back({TroubleNote::ItemFailed, tree, id, trouble.first, trouble.second});
			t.error = trouble.first;
			t.backoffMs = backoff(t.backoffMs);
			t.retryAtMs = nowMs + t.backoffMs;
		}
		// An item whose retry came back without a word (a listing that no longer
		// names it, proved gone) is at peace.
		for (auto it = l.items.begin(); it != l.items.end();)
			if (it->second.retryAtMs == UINT64_MAX && !outcome->troubled.count(it->first)) {
				notes.push_back({TroubleNote::ItemHealed, tree, it->first, it->second.error, {}});
				it = l.items.erase(it);
			} else {
				++it;
			}
	}
	return notes;
}

void Policy::progressed(Tree tree, std::uint64_t atMs)
{
	Lane &l = lane(tree);
	if (l.busySince && !l.stallTold && atMs > *l.busySince)
		l.busySince = atMs;
}

std::vector<TroubleNote> Policy::checkStalls(std::uint64_t nowMs)
{
	std::vector<TroubleNote> notes;
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		Lane &l = lane(tree);
		if (l.busySince && !l.stallTold && nowMs - *l.busySince >= options_.stallMs) {
			l.stallTold = true;
			notes.push_back({TroubleNote::Stalled, tree, {}, ETIMEDOUT,
					 "no answer for " + std::to_string(nowMs - *l.busySince) + " ms"});
		}
	}
	return notes;
}

std::optional<std::uint64_t> Policy::nextDueMs() const
{
	std::optional<std::uint64_t> next;
	auto consider = [&](std::uint64_t t) { next = next ? std::min(*next, t) : t; };
	if (pendingDueMs_)
		consider(*pendingDueMs_);
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		const Lane &l = lane(tree);
		if (l.busySince) {
			if (!l.stallTold)
				consider(*l.busySince + options_.stallMs);
			continue;
		}
		if (l.wantList || l.treeError)
			consider(listDueMs(l));
		// What take() reads at once when it may (a plan not taken, given back).
		if (l.wantCheck || !l.wantRead.empty() || !l.wantRecheck.empty())
			consider(*readableAtMs(l));
		// An item's retry waits for its own tree, and a layer half's for the other
		// half's too (take()): due before them, it would wake the loop for nothing,
		// again and again.
		auto other = tree == Tree::Images ? std::optional<std::uint64_t>(0) : readableAtMs(lane(otherHalf(tree)));
		if (!other)
			continue;
		for (const auto &[id, trouble] : l.items)
			if (trouble.retryAtMs != UINT64_MAX)
				consider(std::max({trouble.retryAtMs, *readableAtMs(l), *other}));
	}
	return next;
}

std::size_t Policy::stalledCount() const
{
	return static_cast<std::size_t>(std::count_if(std::begin(lanes_), std::end(lanes_),
						      [](const Lane &l) { return l.stallTold; }));
}

int Policy::itemError(Tree tree, std::string_view id) const
{
	const Lane &l = lane(tree);
	auto it = l.items.find(id);
	return it == l.items.end() ? 0 : it->second.error;
}

std::size_t Policy::troubleCount() const
{
	std::size_t n = 0;
	for (const Lane &l : lanes_)
		n += (l.treeError != 0) + l.items.size();
	return n;
}

} // namespace lw

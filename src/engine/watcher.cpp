// The event engine on a libuv loop: event sources say what may have changed, the
// policy decides what to read and when, the executor reads on worker threads, and
// the loop thread adopts, commits and delivers (DESIGN.md sections 4 and 5). This
// file is that wiring; watcher_impl.h says where the rest is.
#include "watcher_impl.h"

#if defined(__GLIBC__)
#include <malloc.h> // malloc_trim
#endif

namespace lw {

Watcher::Impl::~Impl()
{
	if (executor)
		executor->shutdown();
}

void Watcher::Impl::deliver(std::vector<Event> &events, EventSource source, const EventRecords &records)
{
	delivery.tell(events, source, records);
	// The source's counts first: a host that sees the pending count of this batch
	// sees the watches and marks that came with it.
	countSource();
	// The pending list made again whenever it may have changed: a new reason, or
	// another count.
	std::uint64_t count = reconciler->pendingCount();
	bool told = std::any_of(events.begin(), events.end(), [](const Event &e) { return e.type == EventType::Pending; });
	if (told || count != pending.load())
		delivery.publishPending(reconciler->pending());
	pending = count;
}

void Watcher::Impl::countSource()
{
	if (source) {
		watches = source->watchCount();
		marks = source->markCount();
	}
}

void Watcher::Impl::tell(Event event, EventSource source)
{
	std::vector<Event> events{std::move(event)};
	deliver(events, source);
}

void Watcher::Impl::dispatch()
{
	if (stopping() || !classified)
		return;
	// How far the reads in flight got, before a stall is judged.
	for (Tree t : kTrees)
		if (auto &moved = progress[static_cast<int>(t)]; moved && policy.busy(t))
			policy.progressed(t, static_cast<std::uint64_t>(moved->load()));
	// A load's part that came back and waits for the part it stands on is not stalled.
	for (const auto &part : loadParts)
		for (const auto &asked : part.plan->trees)
			policy.progressed(asked.first, nowMs());
	auto step = policy.step(nowMs(), [this] { return pendingLooks(); });
	if (!step.stalls.empty()) {
		std::vector<Event> events;
		tellTrouble(step.stalls, events);
		deliver(events, EventSource::Rescan);
		if (!loaded)
			adoptLoad(); // a stalled part lets the others go ahead
	}
	// (A load's parts may go ahead of each other: see splitForLoad.)
	for (auto &part : splitForLoad(std::move(step.plan), treeLoaded))
		postRead(std::move(part));
	if (step.pendingLooked) {
		// Commits that failed (a link) are retried even when nothing was read again.
		if (reconciler->hasRetries())
			reconcile(reconciler->adopt({}), EventSource::Rescan);
		else
			notePending(false); // the next look, after a longer wait
	}
	armDueTimer();
}

void Watcher::Impl::postRead(ReadPlan plan)
{
	bool initial = partOfLoad(plan, treeLoaded);
	auto moved = std::make_shared<std::atomic<std::int64_t>>(0);
	// What the reads of remote trees cost the server, for stats.
	auto calls = std::make_shared<std::atomic<std::uint64_t>>(0);
	std::array<TreeFacts, 3> facts;
	for (Tree tree : kTrees) {
		int t = static_cast<int>(tree);
		facts[t] = {.remote = remote[t], .stamp = stamps[t], .fsMagic = fsMagic[t]};
		if (plan.trees.count(tree))
			progress[t] = moved;
	}
	auto batch = requestsFor(plan, reconciler->validator(), facts, options.remoteReads,
				 [this](Tree tree) { return knownFor(tree); }, moved, calls);
	coalesced += batch.readAlone;
	bool remoteTick = batch.remoteLook && !initial;
	// (Local links: with the part that reads the layers.)
	bool cleanLinks = initial && plan.trees.count(Tree::Overlay) &&
			  (options.commitLinks || options.removeDanglingLinks);
	EventSource source = initial ? EventSource::Initial
		: batch.anyList ? EventSource::Rescan
		: this->source ? this->source->eventSource() : EventSource::Inotify;
	auto started = std::chrono::steady_clock::now();
	// (Shared, not copied: a load's plan names every id, a look after it every image.)
	auto shared = std::make_shared<const ReadPlan>(std::move(plan));
	auto work = [root = rootFd, cancel = cancel, requests = std::move(batch.requests), cleanLinks,
		     plan = shared, source, started, calls, remoteTick, initial, this]() -> Executor::Completion {
		auto read = readBatch(root->get(), requests, cleanLinks, cancel);
		return [this, plan = std::move(plan), read = std::move(read), source, started, calls, remoteTick,
			initial]() mutable {
			remoteCalls += calls->load();
			if (remoteTick)
				remoteTickCalls = calls->load();
			if (initial) {
				for (const auto &asked : plan->trees)
					progress[static_cast<int>(asked.first)].reset();
				loadParts.push_back({std::move(plan), std::move(read), source, started});
				adoptLoad();
			} else {
				adoptRead(*plan, std::move(read.results), read.linkError, source, started);
			}
			dispatch();
		};
	};
	if (auto posted = executor->post(std::move(work)); !posted) {
		// No worker to be had (threads exhausted): the plan goes back whole, and
		// is tried again after a wait. Told once until a read can be posted.
		policy.notTaken(*shared, nowMs());
		if (!postFailureTold)
			tell({.type = EventType::Error, .message = posted.error().message + "; trying again",
			      .code = posted.error().code});
		postFailureTold = true;
	} else if (postFailureTold) {
		postFailureTold = false;
		log(LogLevel::Info, "reads can be posted again");
	}
}

void Watcher::Impl::adoptLoad()
{
	// The halves, then the images: a part waits for the one it stands on, unless that
	// one is stalled.
	static constexpr std::array<std::array<Tree, 2>, 2> kParts = {{{Tree::Overlay, Tree::Layers}, {Tree::Images, Tree::Images}}};
	for (const auto &trees : kParts) {
		auto covers = [&](const LoadPart &p) { return p.plan->trees.count(trees[0]) || p.plan->trees.count(trees[1]); };
		for (auto held = std::find_if(loadParts.begin(), loadParts.end(), covers); held != loadParts.end();
		     held = std::find_if(loadParts.begin(), loadParts.end(), covers)) {
			LoadPart part = std::move(*held);
			loadParts.erase(held);
			for (const auto &asked : part.plan->trees)
				treeLoaded[static_cast<int>(asked.first)] = true;
			adoptRead(*part.plan, std::move(part.read.results), part.read.linkError,
				  loaded ? EventSource::Rescan : part.source, part.started);
			if (treeLoaded[static_cast<int>(Tree::Overlay)] && treeLoaded[static_cast<int>(Tree::Layers)])
				settleStartupLinks();
		}
		if (std::any_of(trees.begin(), trees.end(),
				[&](Tree t) { return !treeLoaded[static_cast<int>(t)] && !policy.stalled(t); }))
			return;
	}
	if (!loaded)
		finishLoad();
}

void Watcher::Impl::settleStartupLinks()
{
	if (!options.commitLinks || linksSettled)
		return;
	linksSettled = true;
	if (auto settled = startupLinks.afterLoad(rootFd->get(), store.snapshot(), reconciler->pending()); !settled)
		tell({.type = EventType::Error, .message = "start-up link cleanup: " + settled.error().message,
		      .code = settled.error().code},
		     EventSource::Initial);
}

void Watcher::Impl::finishLoad()
{
	loaded = true;
	releaseScratch();
	auto snap = store.snapshot();
	Event ready{.type = EventType::Ready, .imageCount = snap.imageCount(), .layerCount = snap.layerCount(),
		    .pendingCount = reconciler->pendingCount(), .backend = backendName()};
	// Not loaded yet, or loaded and stalled since (a look after the halves' load).
	for (Tree t : kTrees)
		if (!treeLoaded[static_cast<int>(t)] || policy.stalled(t))
			ready.stalled.push_back(t);
	tell(std::move(ready), EventSource::Initial);
}

void Watcher::Impl::adoptRead(const ReadPlan &plan, std::vector<ReadResult> results, const std::optional<Error> &linkError,
	       EventSource source, std::chrono::steady_clock::time_point started)
{
	heldBack.hold(results, policy);
	std::vector<TreeOutcome> outcomes;
	bool listed = false;
	for (const auto &r : results) {
		listed = listed || r.listed;
		int t = static_cast<int>(r.tree);
		if (!r.treeError.code && fsMagic[t] == 0)
			fsMagic[t] = r.fsMagic; // first seen: from now on it must stay there
		if (!r.treeError.code && r.stamp.valid)
			stamps[t] = r.stamp;
		outcomes.push_back(outcomeOf(r));
	}
	if (listed) {
		++rescans;
		lastRescanUs = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
			std::chrono::steady_clock::now() - started).count());
	} else {
		++batches;
	}
	std::vector<Event> events;
	if (linkError)
		events.push_back({.type = EventType::Error,
				  .message = "start-up link cleanup: " + linkError->message + "; links are kept",
				  .code = linkError->code});
	if (loaded && coveredItems(plan, results) >= kScratchItems)
		uv_timer_start(&scratchTimer, &Impl::onScratchTimer, 0, 0);
	auto notes = policy.finished(plan, outcomes, nowMs());
	for (const auto &image : heldBack.woken(notes))
		policy.changed(Tree::Images, image);
	tellTrouble(notes, events);
	EventRecords records;
	auto adopted = reconciler->adopt(std::move(results), &records);
	// The trouble told first. (The few go in front of the many, which are not
	// copied: a load's are tens of thousands.)
	records.shift(events.size());
	adopted.insert(adopted.begin(), std::make_move_iterator(events.begin()), std::make_move_iterator(events.end()));
	reconcile(std::move(adopted), source, records);
}

void Watcher::Impl::releaseScratch()
{
#if defined(__GLIBC__)
	::malloc_trim(0);
#endif
}

std::shared_ptr<const std::vector<ReadRequest::Known>> Watcher::Impl::knownFor(Tree tree)
{
	int t = static_cast<int>(tree);
	const Validator &v = reconciler->validator();
	if (!remote[t])
		return v.plan(tree, true).known;
	if (!knownPlan[t] || knownPlanVersion[t] != v.version(tree)) {
		knownPlan[t] = v.plan(tree, true).known;
		knownPlanVersion[t] = v.version(tree);
	}
	return knownPlan[t];
}

void Watcher::Impl::tellTrouble(const std::vector<TroubleNote> &notes, std::vector<Event> &events)
{
	auto told = troubleEvents(notes);
	for (const auto &[level, line] : told.logLines)
		log(level, line);
	events.insert(events.end(), std::make_move_iterator(told.events.begin()),
		      std::make_move_iterator(told.events.end()));
	resyncs += told.resyncs;
	troubled = policy.troubleCount();
	stalledTrees = policy.stalledCount();
}

void Watcher::Impl::reconcile(std::vector<Event> events, EventSource source, const EventRecords &records)
{
	startupLinks.settle(rootFd->get(), events, store, reconciler->validator(),
			    policy.troubled(Tree::Overlay) || policy.troubled(Tree::Layers));
	updateWatches(events);
	bool newReason = std::any_of(events.begin(), events.end(), [](const Event &e) { return e.type == EventType::Pending; });
	deliver(events, source, records);
	noteShelves();
	notePending(newReason);
}

void Watcher::Impl::notePending(bool newReason)
{
	policy.pendingNoted(reconciler->pendingCount() > 0 || reconciler->hasRetries(), newReason, nowMs());
	armDueTimer();
}

std::vector<std::pair<Tree, std::string>> Watcher::Impl::pendingLooks() const
{
	std::vector<std::pair<Tree, std::string>> looks;
	for (const auto &p : reconciler->pending()) {
		if (p.kind == ItemKind::Image) {
			looks.emplace_back(Tree::Images, p.id);
		} else {
			looks.emplace_back(Tree::Overlay, p.id);
			if (p.kind == ItemKind::Layer)
				looks.emplace_back(Tree::Layers, p.id);
		}
	}
	return looks;
}

void Watcher::Impl::noteShelves()
{
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		bool shelving = !reconciler->validator().shelved(tree).empty();
		bool &told = shelfTold[static_cast<int>(tree)];
		if (shelving && !told)
			log(LogLevel::Warning,
			    fmt::format("{}; the others are counted and listed as pending, and read "
					"again when they change",
					reconciler->validator().shelvedReason(tree)));
		told = shelving;
	}
}

void Watcher::Impl::armDueTimer()
{
	if (stopping())
		return;
	auto due = policy.nextDueMs();
	if (!due) {
		uv_timer_stop(&dueTimer);
		return;
	}
	std::uint64_t now = nowMs();
	uv_timer_start(&dueTimer, &Impl::onDueTimer, *due > now ? *due - now : 0, 0);
}

void Watcher::Impl::onDueTimer(uv_timer_t *handle)
{
	of(handle->data)->dispatch();
}

Result<void> Watcher::Impl::open(uv_loop_t *loop)
{
	startupLinks.started();
	// A start after one that failed: its reads were let go; these are new.
	cancel = std::make_shared<std::atomic<bool>>(false);
	int r = made(&doneAsync, uv_async_init(loop, &doneAsync, &Impl::onDoneAsync));
	for (uv_timer_t *t : {&tickTimer, &safetyTimer, &dueTimer, &scratchTimer})
		if (r == 0)
			r = made(t, uv_timer_init(loop, t));
	if (r < 0)
		return makeError(-r, fmt::format("cannot start on the loop: {}", uv_strerror(r)));
	executor = std::make_unique<Executor>(kWorkers, [this] { uv_async_send(&doneAsync); });
	executorForStats = executor.get();
	// Which trees another host may write behind the kernel source's back: found on a worker,
	// since even a statfs waits for a server that stopped answering.
	auto work = [root = options.root, this]() -> Executor::Completion {
		std::array<FsClass, 3> found;
		for (Tree tree : kTrees) {
			auto &cls = found[static_cast<int>(tree)];
			cls = classifyPath(root + "/" + treeName(tree));
			if (fs::isAbsence(cls.error)) {
				cls = classifyPath(root);
				cls.magic = 0; // the tree's own filesystem is known once it exists
			}
		}
		return [this, found] { onClassified(found); };
	};
	if (auto posted = executor->post(std::move(work)); !posted)
		return posted.error();
	return {};
}

void Watcher::Impl::onClassified(const std::array<FsClass, 3> &found)
{
	for (Tree tree : kTrees) {
		int t = static_cast<int>(tree);
		const auto &cls = found[t];
		remote[t] = cls.remote;
		polled[t] = cls.remote || options.mode == WatchMode::Poll;
		fsMagic[t] = cls.magic;
		if (cls.error && !fs::isAbsence(cls.error))
			log(LogLevel::Warning, fmt::format("{}: cannot tell its filesystem ({}): taken as local",
							   treeName(tree), std::strerror(cls.error)));
		log(LogLevel::Info, fmt::format("{}: {} ({})", treeName(tree), cls.remote ? "remote, rescanned" : "local",
						cls.type.empty() ? "unknown" : cls.type));
	}
	// Watches before the initial load: nothing written during it is missed.
	openSource();
	if (std::any_of(polled.begin(), polled.end(), [](const auto &p) { return p.load(); }))
		startTickTimer();
	if (options.localRescanMs > 0)
		uv_timer_start(&safetyTimer, &Impl::onSafetyTimer, options.localRescanMs, options.localRescanMs);
	classified = true;
	for (Tree tree : kTrees)
		policy.listWanted(tree);
	dispatch();
}

} // namespace lw

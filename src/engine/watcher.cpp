// The event engine on a libuv loop: event sources say what may have changed, the
// policy decides what to read and when, the executor reads on worker threads, and
// the loop thread adopts, commits and delivers (DESIGN.md sections 4 and 5).
#include <layerwatch/watcher.h>

#include "delivery.h"
#include "executor.h"
#include "fanotify_source.h"
#include "fs_classify.h"
#include "held_back.h"
#include "identity.h"
#include "inotify_source.h"
#include "local_links.h"
#include "loop_binding.h"
#include "policy.h"
#include "read_batch.h"
#include "reconciler.h"
#include "root.h"
#include "safe_fs.h"
#include "startup_links.h"
#include "store_state.h"
#include "tree_reader.h"
#include "trouble_events.h"

#include <layerwatch/paths.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_set>

#if defined(__GLIBC__)
#include <malloc.h> // malloc_trim
#endif
#include <pthread.h>

namespace lw {

namespace {

constexpr std::array<Tree, 3> kTrees = {Tree::Overlay, Tree::Layers, Tree::Images};
// Workers: one read in flight per tree at most, and one spare for the generation file.
constexpr unsigned kWorkers = 4;

std::uint64_t nowMs()
{
	return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::steady_clock::now().time_since_epoch()).count());
}

} // namespace

const char *watchModeName(WatchMode mode)
{
	switch (mode) {
	case WatchMode::Auto:
		return "auto";
	case WatchMode::Inotify:
		return "inotify";
	case WatchMode::Fanotify:
		return "fanotify";
	case WatchMode::Poll:
		return "poll";
	}
	return "auto";
}

bool parseWatchMode(const std::string &text, WatchMode &mode)
{
	for (WatchMode m : {WatchMode::Auto, WatchMode::Inotify, WatchMode::Fanotify, WatchMode::Poll})
		if (text == watchModeName(m)) {
			mode = m;
			return true;
		}
	return false;
}

// Hidden: the class is exported, its insides are not.
struct __attribute__((visibility("hidden"))) Watcher::Impl {
	Impl(WatcherOptions o, EventCallback onEvent)
		: options(std::move(o)), delivery(std::move(onEvent), options.log, options.logLevel)
	{
	}

	WatcherOptions options;
	Delivery delivery; // events, log lines and the pending list, to the host
	// Shared with the workers: a read still in the kernel when the watcher is gone
	// keeps its fd, and nothing else of ours.
	std::shared_ptr<UniqueFd> rootFd;
	StartupLinks startupLinks; // this host's links left from before it started
	// Trees whose shelving was told (noteShelves).
	std::array<bool, 3> shelfTold{};
	Store store;
	std::unique_ptr<Reconciler> reconciler;
	// inotify or fanotify; none in Poll mode, or while neither can be had.
	std::unique_ptr<KernelSource> source;
	std::unique_ptr<Executor> executor;
	// The same for stats(), from any thread: published once attach() made it.
	std::atomic<const Executor *> executorForStats{nullptr};
	Policy policy;
	CancelFlag cancel = std::make_shared<std::atomic<bool>>(false);

	// The loop it runs on, its handles, its stop and who frees it (loop_binding.h).
	LoopBinding binding{{
		.open = [this](uv_loop_t *loop) { return open(loop); },
		.stopping = [this] {
			cancel->store(true); // reads in flight are abandoned
			if (executor)
				executor->shutdown();
		},
		.closed = [this] { tell({.type = EventType::Stopped}, EventSource::Stop); },
		.free = [this] { delete this; },
	}};
	uv_poll_t poll{};
	uv_timer_t tickTimer{}, safetyTimer{}, dueTimer{}, scratchTimer{};
	uv_async_t doneAsync{};
	bool pollOpen = false;

	// Per tree: remote (another host writes it), polled (rescanned every interval),
	// the filesystem it must stay on.
	std::array<std::atomic<bool>, 3> remote{}, polled{};
	std::array<long, 3> fsMagic{};
	// Remote trees: the tree folder as the last listing saw it, what is known of each
	// tree as last planned (reused while unchanged), and the rotation of verification.
	std::array<TreeStamp, 3> stamps{};
	std::array<std::shared_ptr<const std::vector<ReadRequest::Known>>, 3> knownPlan{};
	std::array<std::uint64_t, 3> knownPlanVersion{};
	HeldBack heldBack; // what a read may not be taken on yet
	// How far the read in flight on each tree got (see Policy::progressed).
	std::array<std::shared_ptr<std::atomic<std::int64_t>>, 3> progress{};
	std::array<std::optional<StaleReason>, 3> stale{};
	std::array<bool, 3> watchLimitTold{}, watchFailTold{};
	bool classified = false, loaded = false, noSourceTold = false, fanotifyFallbackTold = false;
	bool postFailureTold = false; // a read could not be posted (no worker thread)
	// The generation file: one look in flight at most, and what the last one saw.
	bool generationInFlight = false;

	std::atomic<const char *> backend{"poll"}; // for stats(), from any thread
	std::atomic<std::uint64_t> kernelEvents{0}, batches{0}, coalesced{0}, rescans{0}, resyncs{0}, lastRescanUs{0},
		watches{0}, marks{0}, pending{0}, generationSkips{0}, troubled{0}, stalledTrees{0},
		remoteCalls{0}, remoteTickCalls{0};

	~Impl()
	{
		if (executor)
			executor->shutdown();
	}

	void log(LogLevel level, const std::string &message) { delivery.log(level, message); }

	void deliver(std::vector<Event> &events, EventSource source, const EventRecords &records = {})
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

	// The kernel source's watches and marks, for stats().
	void countSource()
	{
		if (source) {
			watches = source->watchCount();
			marks = source->markCount();
		}
	}

	void tell(Event event, EventSource source = EventSource::Rescan)
	{
		std::vector<Event> events{std::move(event)};
		deliver(events, source);
	}

	bool stopping() const { return !binding.running(); }

	// A handle initialised with result (0: made): its callbacks find this engine, and
	// the binding closes it with the others.
	template <class Handle>
	int made(Handle *handle, int result)
	{
		if (result == 0)
			handle->data = this;
		return binding.adopt(handle, result);
	}

	// ---- reading: the policy's plan, read on a worker, adopted here ----

	void dispatch()
	{
		if (stopping() || !classified)
			return;
		auto step = policy.step(nowMs(), [this] { return pendingLooks(); });
		if (!step.stalls.empty()) {
			std::vector<Event> events;
			tellTrouble(step.stalls, events);
			deliver(events, EventSource::Rescan);
		}
		ReadPlan &plan = step.plan;
		if (!plan.empty()) {
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
			bool remoteTick = batch.remoteLook && loaded;
			bool initial = !loaded;
			bool cleanLinks = initial && (options.commitLinks || options.removeDanglingLinks);
			EventSource source = initial ? EventSource::Initial
				: batch.anyList ? EventSource::Rescan
				: this->source ? this->source->eventSource() : EventSource::Inotify;
			auto started = std::chrono::steady_clock::now();
			// (Shared, not copied: a load's plan names every id, a look after it every image.)
			auto shared = std::make_shared<const ReadPlan>(std::move(plan));
			auto work = [root = rootFd, cancel = cancel, requests = std::move(batch.requests), cleanLinks,
				     plan = shared, source, started, calls, remoteTick, this]() -> Executor::Completion {
				auto read = readBatch(root->get(), requests, cleanLinks, cancel);
				return [this, plan = std::move(plan), read = std::move(read), source, started, calls,
					remoteTick]() mutable {
					remoteCalls += calls->load();
					if (remoteTick)
						remoteTickCalls = calls->load();
					adoptRead(*plan, std::move(read.results), read.linkError, source, started);
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
		if (step.pendingLooked) {
			// Commits that failed (a link) are retried even when nothing was read again.
			if (reconciler->hasRetries())
				reconcile(reconciler->adopt({}), EventSource::Rescan);
			else
				notePending(false); // the next look, after a longer wait
		}
		armDueTimer();
	}

	void adoptRead(const ReadPlan &plan, std::vector<ReadResult> results, const std::optional<Error> &linkError,
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
		if (!loaded) {
			loaded = true;
			auto snap = store.snapshot();
			if (options.commitLinks)
				if (auto settled = startupLinks.afterLoad(rootFd->get(), snap, reconciler->pending()); !settled)
					tell({.type = EventType::Error,
					      .message = "start-up link cleanup: " + settled.error().message,
					      .code = settled.error().code},
					     EventSource::Initial);
			releaseScratch();
			tell({.type = EventType::Ready, .imageCount = snap.imageCount(), .layerCount = snap.layerCount(),
			      .pendingCount = reconciler->pendingCount(), .backend = backendName()},
			     EventSource::Initial);
		}
		dispatch();
	}

	const char *backendName() const { return source ? source->name() : "poll"; }

	// The load's scratch (what the workers read, freed here on the loop thread) went
	// back to the workers' malloc arenas, whose free pages glibc keeps resident: a
	// load of 10 000 images leaves some 10 MiB of them. Given back once, after the
	// load (a few milliseconds of the loop, like the adopting before it).
	static void releaseScratch()
	{
#if defined(__GLIBC__)
		::malloc_trim(0);
#endif
	}

	// The same after any later batch of thousands of items (the look that comes with
	// the load's new watches, a storm of new images, a resync): on the next turn of the
	// loop, once the batch's plan and results are gone. A batch of a few items, or an
	// idle tick (its listing shared, nothing read), leaves nothing worth a trim.
	static constexpr std::size_t kScratchItems = 1000;
	static void onScratchTimer(uv_timer_t *) { releaseScratch(); }

	// What is known of a tree, as a plan shares it. A remote tree's is kept and rebuilt
	// only when it changed (its ticks carry it); a local tree is listed only on a
	// resync, and keeping a copy of all it knows would double what it costs.
	std::shared_ptr<const std::vector<ReadRequest::Known>> knownFor(Tree tree)
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

	// Trouble that appeared or healed, as events (once each) and log lines.
	void tellTrouble(const std::vector<TroubleNote> &notes, std::vector<Event> &events)
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

	// Delivers, then follows what may still change with content watches.
	void reconcile(std::vector<Event> events, EventSource source, const EventRecords &records = {})
	{
		startupLinks.settle(rootFd->get(), events, store, reconciler->validator(),
				    policy.troubled(Tree::Overlay) || policy.troubled(Tree::Layers));
		updateWatches(events);
		bool newReason = std::any_of(events.begin(), events.end(), [](const Event &e) { return e.type == EventType::Pending; });
		deliver(events, source, records);
		noteShelves();
		notePending(newReason);
	}

	// The policy is told whether anything still waits for the pending look.
	void notePending(bool newReason)
	{
		policy.pendingNoted(reconciler->pendingCount() > 0 || reconciler->hasRetries(), newReason, nowMs());
		armDueTimer();
	}

	// What the pending look reads again: every pending item's folders.
	std::vector<std::pair<Tree, std::string>> pendingLooks() const
	{
		std::vector<std::pair<Tree, std::string>> looks;
		for (const auto &p : reconciler->pending()) {
			if (p.kind == "image") {
				looks.emplace_back(Tree::Images, p.id);
			} else {
				looks.emplace_back(Tree::Overlay, p.id);
				if (p.kind == "layer")
					looks.emplace_back(Tree::Layers, p.id);
			}
		}
		return looks;
	}

	// Shelved items get no pending event each (that is what shelving saves): the
	// operator is told once each time a tree begins to shelve.
	void noteShelves()
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

	// Content watches follow what may still change: pending overlay and layer
	// folders, and every image folder (a tag rewrites images.json in place). A new
	// watch comes with one more look at its id, for what was written before it.
	void updateWatches(const std::vector<Event> &events)
	{
		if (!source)
			return;
		// Watches held for pending items: every overlay and layer watch, and the image
		// watches beyond one per ready image.
		auto pendingWatches = [&] {
			std::size_t images = source->itemWatchCount(Tree::Images), ready = store.snapshot().imageCount();
			return source->itemWatchCount(Tree::Overlay) + source->itemWatchCount(Tree::Layers) +
			       (images > ready ? images - ready : 0);
		};
		// The looks are wanted once every watch is made: the policy's list of them is
		// let go once they are done, and made among the watches (a load's every
		// image), it would leave holes between them in the heap.
		std::vector<std::pair<Tree, const std::string *>> looks;
		auto watch = [&](Tree tree, const std::string &id, bool pending) {
			if (polled[static_cast<int>(tree)] || source->itemWatched(tree, id))
				return;
			if (pending && !policy.pendingWatchAllowed(pendingWatches()))
				return; // the pending rescan looks at it instead
			auto r = source->watchItem(tree, id);
			if (r)
				looks.emplace_back(tree, &id);
			else if (r.error().code == ENOSPC || r.error().code == ENOMEM)
				fallBackToRescan(tree, "watch_limit", r.error().message);
		};
		for (const auto &e : events) {
			switch (e.type) {
			case EventType::Pending:
				if (e.kind == "image") {
					watch(Tree::Images, e.id, true);
				} else {
					watch(Tree::Overlay, e.id, true);
					if (e.kind == "layer")
						watch(Tree::Layers, e.id, true);
				}
				break;
			case EventType::LayerAdded:
				source->unwatchItem(Tree::Overlay, e.id);
				source->unwatchItem(Tree::Layers, e.id);
				break;
			case EventType::ImageAdded:
			case EventType::ImageUpdated:
				watch(Tree::Images, e.id, false);
				break;
			case EventType::ImageRemoved:
				source->unwatchItem(Tree::Images, e.id);
				break;
			default:
				break;
			}
		}
		for (const auto &[tree, id] : looks)
			policy.recheckWanted(tree, *id);
	}

	void fallBackToRescan(Tree tree, const char *reason, const std::string &detail)
	{
		int t = static_cast<int>(tree);
		polled[t] = true;
		startTickTimer();
		if (watchLimitTold[t])
			return;
		watchLimitTold[t] = true;
		++resyncs;
		log(LogLevel::Warning, fmt::format("{}: {}; rescanning it every {} ms instead", treeName(tree), detail,
						   options.intervalMs));
		tell({.type = EventType::Resync, .reason = reason, .tree = treeName(tree)});
	}

	// ---- event sources ----

	// After kernel records were drained: resyncs first, then the coalesced ids.
	void flush()
	{
		Validator::TreeSet overflowed{};
		std::vector<Event> resyncEvents;
		for (Tree tree : kTrees) {
			int t = static_cast<int>(tree);
			if (!stale[t])
				continue;
			// The kernel's queue says nothing of a tree it does not watch (a remote
			// one, or one fallen back to rescans): its own ticks keep it.
			if (*stale[t] == StaleReason::Overflow && polled[t]) {
				stale[t].reset();
				continue;
			}
			if (*stale[t] == StaleReason::Overflow)
				overflowed[t] = true;
			else
				policy.listWanted(tree);
			resyncEvents.push_back({.type = EventType::Resync, .reason = staleReasonName(*stale[t]),
						.tree = treeName(tree)});
			++resyncs;
			stale[t].reset();
		}
		if (!resyncEvents.empty()) {
			log(LogLevel::Warning, fmt::format("view may be stale ({}): rescanning", resyncEvents.front().reason));
			deliver(resyncEvents, EventSource::Rescan);
			policy.overflow(overflowed, nowMs());
			rewatchLostTrees();
		}
		dispatch();
	}

	// A tree whose watch went (moved, deleted, remounted) is watched again by path
	// once it is back; until then it is rescanned.
	void rewatchLostTrees()
	{
		if (!source)
			return;
		for (Tree tree : kTrees) {
			int t = static_cast<int>(tree);
			if (source->treeWatched(tree) || remote[t] || options.mode == WatchMode::Poll)
				continue;
			if (auto watched = source->watchTree(tree)) {
				polled[t] = false;
				watchFailTold[t] = false;
				policy.listWanted(tree); // for what came before the watch
			} else {
				polled[t] = true;
				startTickTimer();
				// A tree not there yet is the usual case; anything else is told once.
				if (!fs::isAbsence(watched.error().code) && !watchFailTold[t]) {
					watchFailTold[t] = true;
					log(LogLevel::Warning, fmt::format("{}: {}; rescanning it every {} ms instead",
									   treeName(tree), watched.error().message,
									   options.intervalMs));
				}
			}
		}
	}

	// The kernel source the mode asks for: fanotify (Fanotify, and Auto where it may be
	// had), else inotify; or, when neither can be had (EMFILE, ENFILE, ENOSYS ...),
	// rescans of every tree until one can.
	Result<std::unique_ptr<KernelSource>> openKernelSource(SourceOutput output)
	{
		// Through the handle the reads use, never by the root's path again: a store
		// moved away and another made at its old path must not be watched (a tree
		// watched anew after it was replaced) in place of the one read.
		std::string root = "/proc/self/fd/" + std::to_string(rootFd->get());
		if (options.mode == WatchMode::Fanotify || options.mode == WatchMode::Auto) {
			auto fan = FanotifySource::open(root, output);
			// Auto: every local tree's filesystem must take the mark (a subvolume or
			// a filesystem without handles does not), or inotify follows them all.
			for (Tree tree : kTrees) {
				if (!fan || options.mode != WatchMode::Auto || remote[static_cast<int>(tree)])
					continue;
				if (auto watched = (*fan)->watchTree(tree); !watched && !fs::isAbsence(watched.error().code))
					fan = watched.error();
			}
			if (fan || options.mode == WatchMode::Fanotify)
				return fan ? Result<std::unique_ptr<KernelSource>>(std::move(*fan))
					   : Result<std::unique_ptr<KernelSource>>(fan.error());
			if (!fanotifyFallbackTold) {
				fanotifyFallbackTold = true;
				log(LogLevel::Info, fmt::format("{}: using inotify", fan.error().message));
			}
		}
		auto ino = InotifySource::open(root, std::move(output));
		if (!ino)
			return ino.error();
		return std::unique_ptr<KernelSource>(std::move(*ino));
	}

	const char *wantedBackend() const { return options.mode == WatchMode::Fanotify ? "fanotify" : "inotify"; }

	void openSource()
	{
		if (source || options.mode == WatchMode::Poll)
			return;
		SourceOutput output{
			[this](Tree tree, const std::string &id) { policy.changed(tree, id); },
			[this](Tree tree, StaleReason reason) { stale[static_cast<int>(tree)] = reason; },
		};
		auto opened = openKernelSource(std::move(output));
		if (opened && !pollOpen) {
			if (int r = made(&poll, uv_poll_init(binding.loop(), &poll, (*opened)->fd())); r < 0)
				opened = makeError(-r, fmt::format("uv_poll_init: {}", uv_strerror(r)));
			else
				pollOpen = true;
		}
		if (!opened) {
			for (auto &p : polled)
				p = true;
			startTickTimer();
			if (!noSourceTold) {
				noSourceTold = true;
				++resyncs;
				log(LogLevel::Warning, fmt::format("{}: rescanning every tree every {} ms instead, and trying "
								   "{} again then",
								   opened.error().message, options.intervalMs, wantedBackend()));
				std::string reason = std::string("no_") + wantedBackend();
				for (Tree tree : kTrees)
					tell({.type = EventType::Resync, .reason = reason, .tree = treeName(tree)});
			}
			return;
		}
		source = std::move(*opened);
		countSource(); // before the backend: stats() never shows it without its marks
		backend = source->name();
		uv_poll_start(&poll, UV_READABLE, &Impl::onPoll);
		if (noSourceTold)
			log(LogLevel::Info, fmt::format("{} is back", source->name()));
		noSourceTold = false;
		for (Tree tree : kTrees)
			if (!remote[static_cast<int>(tree)])
				polled[static_cast<int>(tree)] = false;
		rewatchLostTrees();
		countSource();
	}

	// ---- timers ----

	void startTickTimer()
	{
		if (!stopping() && !uv_is_active(reinterpret_cast<uv_handle_t *>(&tickTimer)))
			uv_timer_start(&tickTimer, &Impl::onTickTimer, options.intervalMs, options.intervalMs);
	}

	void armDueTimer()
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

	static Impl *of(void *data) { return static_cast<Impl *>(data); }

	static void onPoll(uv_poll_t *handle, int status, int)
	{
		Impl *self = of(handle->data);
		if (status < 0) {
			self->log(LogLevel::Error, fmt::format("{} poll: {}", self->source->name(), uv_strerror(status)));
			for (Tree t : kTrees)
				self->stale[static_cast<int>(t)] = StaleReason::PollError;
		} else {
			long n = self->source->drain(self->options.maxRecordsPerPass);
			if (n < 0) {
				self->log(LogLevel::Error, fmt::format("{} read: {}", self->source->name(),
								       std::strerror(static_cast<int>(-n))));
				for (Tree t : kTrees)
					self->stale[static_cast<int>(t)] = StaleReason::ReadError;
			} else {
				self->kernelEvents += static_cast<std::uint64_t>(n);
			}
		}
		self->flush();
	}

	static void onTickTimer(uv_timer_t *handle)
	{
		Impl *self = of(handle->data);
		// The trees due now, taken before a lost watch comes back: a tree that gets
		// its watch again still needs this rescan, for what came before the watch.
		Validator::TreeSet due{};
		for (Tree t : kTrees)
			due[static_cast<int>(t)] = self->polled[static_cast<int>(t)];
		self->openSource();
		self->rewatchLostTrees();
		if (std::none_of(self->polled.begin(), self->polled.end(), [](const auto &p) { return p.load(); }))
			uv_timer_stop(handle);
		if (self->options.trustGeneration)
			return self->lookAtGeneration(due);
		self->listDue(due);
	}

	void listDue(Validator::TreeSet due)
	{
		for (Tree t : kTrees) {
			int i = static_cast<int>(t);
			if (!due[i])
				continue;
			if (remote[i] && options.mode != WatchMode::Poll)
				policy.remoteTick(t, [&] { return reconciler->validator().ids(t); });
			else
				policy.listWanted(t);
		}
		dispatch();
	}

	// With a trusted generation file: a tick whose file is as the last one saw it
	// (and no full rescan is due) is skipped. The look runs on a worker too.
	void lookAtGeneration(Validator::TreeSet due)
	{
		if (generationInFlight)
			return;
		generationInFlight = true;
		auto work = [root = rootFd, this, due]() -> Executor::Completion {
			FileId seen = statId(root->get(), std::string(paths::kGenerationFile));
			return [this, seen, due] {
				generationInFlight = false;
				if (policy.generationUnchanged(seen, nowMs()))
					++generationSkips;
				else
					listDue(due);
			};
		};
		if (!executor->post(std::move(work)))
			generationInFlight = false;
	}

	static void onSafetyTimer(uv_timer_t *handle)
	{
		of(handle->data)->listDue(Validator::kAllTrees);
	}

	static void onDueTimer(uv_timer_t *handle)
	{
		Impl *self = of(handle->data);
		for (Tree t : kTrees)
			if (auto &moved = self->progress[static_cast<int>(t)]; moved && self->policy.busy(t))
				self->policy.progressed(t, static_cast<std::uint64_t>(moved->load()));
		self->dispatch();
	}

	static void onDoneAsync(uv_async_t *handle) { of(handle->data)->executor->runCompletions(); }

	// The binding's Engine::open: the handles, the workers, and the first work.
	Result<void> open(uv_loop_t *loop)
	{
		startupLinks.started();
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

	void onClassified(const std::array<FsClass, 3> &found)
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
};

Watcher::Watcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Watcher>> Watcher::create(WatcherOptions options, EventCallback onEvent)
{
	try {
		if (options.intervalMs == 0)
			return makeError(EINVAL, "interval must be at least 1 ms");
		if (options.maxRecordsPerPass == 0)
			return makeError(EINVAL, "maxRecordsPerPass must be at least 1");
		if (static_cast<unsigned>(options.mode) > static_cast<unsigned>(WatchMode::Poll))
			return makeError(EINVAL, "unknown watch mode");
		auto rootFd = openRoot(options.root);
		if (!rootFd)
			return rootFd.error();
		// Asked for by name: refused now, with why, rather than falling back later.
		if (options.mode == WatchMode::Fanotify)
			if (auto probe = FanotifySource::open(options.root, {}); !probe)
				return probe.error();
		auto impl = std::make_unique<Impl>(std::move(options), std::move(onEvent));
		const WatcherOptions &o = impl->options;
		std::uint64_t stallMs = o.stallMs ? o.stallMs : std::max<std::uint64_t>(2ull * o.intervalMs, 10000);
		impl->policy = Policy({.stallMs = stallMs,
				       .retryFirstMs = std::max<std::uint32_t>(o.retryMs, 1),
				       .intervalMs = o.intervalMs,
				       .verifyPeriodMs = o.verifyPeriodMs,
				       .fullRescanMs = o.fullRescanMs,
				       .maxPendingWatches = o.maxPendingWatches});
		impl->rootFd = std::make_shared<UniqueFd>(std::move(*rootFd));
		impl->reconciler = std::make_unique<Reconciler>(impl->rootFd->get(), impl->store,
								ReconcileOptions{.commitLinks = o.commitLinks, .tellGone = o.tellGone,
										 .maxPendingItems = o.maxPendingItems});
		return std::unique_ptr<Watcher>(new Watcher(std::move(impl)));
	} catch (const std::exception &e) {
		return makeError(ENOMEM, e.what());
	}
}

Watcher::~Watcher()
{
	if (!impl_)
		return;
	impl_->delivery.detach(); // no callback after this (one under way finishes first)
	if (!impl_->binding.release())
		(void)impl_.release(); // its binding frees it once its last handle closed
}

Result<void> Watcher::attach(uv_loop_t *loop)
{
	try {
		if (!loop)
			return makeError(EINVAL, "no loop");
		return impl_->binding.attach(loop);
	} catch (const std::exception &e) {
		return makeError(ENOMEM, e.what());
	}
}

Result<void> Watcher::start()
{
	try {
		return impl_->binding.start("lw-loop");
	} catch (const std::exception &e) {
		return makeError(EAGAIN, e.what());
	}
}

void Watcher::stop()
{
	impl_->binding.stop();
}

void Watcher::join()
{
	if (auto joined = impl_->binding.join(); !joined)
		impl_->log(LogLevel::Error, joined.error().message);
}

bool Watcher::closed() const
{
	return impl_->binding.closed();
}

Snapshot Watcher::snapshot() const
{
	return impl_->store.snapshot();
}

std::vector<PendingItem> Watcher::pending() const
{
	return impl_->delivery.pending();
}

WatcherStats Watcher::stats() const
{
	WatcherStats s;
	const Impl &i = *impl_;
	s.kernelEvents = i.kernelEvents;
	s.batches = i.batches;
	s.coalesced = i.coalesced;
	s.rescans = i.rescans;
	s.generationSkips = i.generationSkips;
	s.resyncs = i.resyncs;
	s.lastRescanUs = i.lastRescanUs;
	s.watches = i.watches;
	s.marks = i.marks;
	s.backend = i.backend.load();
	s.pending = i.pending;
	s.errors = i.delivery.errors();
	s.troubled = i.troubled;
	s.stalled = i.stalledTrees;
	const Executor *executor = i.executorForStats.load();
	s.readsInFlight = executor ? executor->busy() : 0;
	s.remoteCalls = i.remoteCalls;
	s.remoteTickCalls = i.remoteTickCalls;
	for (int t = 0; t < 3; ++t) {
		s.remote[t] = i.remote[t];
		s.rescanned[t] = i.polled[t];
	}
	return s;
}

} // namespace lw

// The watcher's insides, shared by its three files: watcher.cpp (the policy's plans
// read on workers, then adopted, committed and told: the wiring), watcher_sources.cpp
// (what may have changed: the kernel source, its content watches, the ticks) and
// watcher_api.cpp (the public Watcher). Everything here runs on the loop thread but
// where a member says otherwise.
#pragma once

#include <layerwatch/watcher.h>

#include "delivery.h"
#include "executor.h"
#include "fanotify_source.h"
#include "fs_classify.h"
#include "held_back.h"
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
#include <mutex>
#include <optional>


namespace lw {

// Hidden: the class is exported, its insides are not.
struct __attribute__((visibility("hidden"))) Watcher::Impl {
	static constexpr std::array<Tree, 3> kTrees = {Tree::Overlay, Tree::Layers, Tree::Images};
	// Workers: one read in flight per tree at most, and one spare for the generation file.
	static constexpr unsigned kWorkers = 4;
	// The engine's clock (the policy is given its times).
	static std::uint64_t nowMs()
	{
		return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::steady_clock::now().time_since_epoch()).count());
	}

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
	std::array<std::optional<ResyncReason>, 3> stale{};
	std::array<bool, 3> watchLimitTold{}, watchFailTold{};
	bool classified = false, noSourceTold = false, fanotifyFallbackTold = false;
	// The first load (splitForLoad): its parts back and waiting for the part they
	// stand on, the trees whose first read was adopted, the start-up links settled
	// (once the layers are known), and `ready` told (every tree loaded or stalled).
	struct LoadPart {
		std::shared_ptr<const ReadPlan> plan;
		BatchRead read;
		EventSource source;
		std::chrono::steady_clock::time_point started;
	};
	std::vector<LoadPart> loadParts;
	std::array<bool, 3> treeLoaded{};
	bool linksSettled = false, loaded = false;
	bool postFailureTold = false; // a read could not be posted (no worker thread)
	// The generation file: one look in flight at most, and what the last one saw.
	bool generationInFlight = false;

	std::atomic<const char *> backend{"poll"}; // for stats(), from any thread
	std::atomic<std::uint64_t> kernelEvents{0}, batches{0}, coalesced{0}, rescans{0}, resyncs{0}, lastRescanUs{0},
		watches{0}, marks{0}, pending{0}, generationSkips{0}, troubled{0}, stalledTrees{0},
		remoteCalls{0}, remoteTickCalls{0};

	~Impl();

	void log(LogLevel level, const std::string &message) { delivery.log(level, message); }

	void deliver(std::vector<Event> &events, EventSource source, const EventRecords &records = {});

	// The kernel source's watches and marks, for stats().
	void countSource();

	void tell(Event event, EventSource source = EventSource::Rescan);

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

	void dispatch();

	// A plan read on a worker: adopted when it comes back, or held while it is a
	// load's part that must wait (adoptLoad).
	void postRead(ReadPlan plan);

	// The load's parts that may be adopted now, in order; `ready` once every tree is
	// loaded or stalled (a stalled tree's items follow when it answers).
	void adoptLoad();
	void settleStartupLinks();
	void finishLoad();

	void adoptRead(const ReadPlan &plan, std::vector<ReadResult> results, const std::optional<Error> &linkError,
		       EventSource source, std::chrono::steady_clock::time_point started);

	const char *backendName() const { return source ? source->name() : "poll"; }

	// The load's scratch (what the workers read, freed here on the loop thread) went
	// back to the workers' malloc arenas, whose free pages glibc keeps resident: a
	// load of 10 000 images leaves some 10 MiB of them. Given back once, after the
	// load (a few milliseconds of the loop, like the adopting before it).
	static void releaseScratch();

	// The same after any later batch of thousands of items (the look that comes with
	// the load's new watches, a storm of new images, a resync): on the next turn of the
	// loop, once the batch's plan and results are gone. A batch of a few items, or an
	// idle tick (its listing shared, nothing read), leaves nothing worth a trim.
	static constexpr std::size_t kScratchItems = 1000;
	static void onScratchTimer(uv_timer_t *) { releaseScratch(); }

	// What is known of a tree, as a plan shares it. A remote tree's is kept and rebuilt
	// only when it changed (its ticks carry it); a local tree is listed only on a
	// resync, and keeping a copy of all it knows would double what it costs.
	std::shared_ptr<const std::vector<ReadRequest::Known>> knownFor(Tree tree);

	// Trouble that appeared or healed, as events (once each) and log lines.
	void tellTrouble(const std::vector<TroubleNote> &notes, std::vector<Event> &events);

	// Delivers, then follows what may still change with content watches.
	void reconcile(std::vector<Event> events, EventSource source, const EventRecords &records = {});

	// The policy is told whether anything still waits for the pending look.
	void notePending(bool newReason);

	// What the pending look reads again: every pending item's folders.
	std::vector<std::pair<Tree, std::string>> pendingLooks() const;

	// Shelved items get no pending event each (that is what shelving saves): the
	// operator is told once each time a tree begins to shelve.
	void noteShelves();

	// Content watches follow what may still change: pending overlay and layer
	// folders, and every image folder (a tag rewrites images.json in place). A new
	// watch comes with one more look at its id, for what was written before it.
	void updateWatches(const std::vector<Event> &events);

	void fallBackToRescan(Tree tree, ResyncReason reason, const std::string &detail);

	// ---- event sources ----

	// After kernel records were drained: resyncs first, then the coalesced ids.
	void flush();

	// A tree whose watch went (moved, deleted, remounted) is watched again by path
	// once it is back; until then it is rescanned.
	void rewatchLostTrees();

	// The kernel source the mode asks for: fanotify (Fanotify, and Auto where it may be
	// had), else inotify; or, when neither can be had (EMFILE, ENFILE, ENOSYS ...),
	// rescans of every tree until one can.
	Result<std::unique_ptr<KernelSource>> openKernelSource(SourceOutput output);

	const char *wantedBackend() const { return options.mode == WatchMode::Fanotify ? "fanotify" : "inotify"; }

	void openSource();

	// ---- timers ----

	void startTickTimer();

	void armDueTimer();

	static Impl *of(void *data) { return static_cast<Impl *>(data); }

	static void onPoll(uv_poll_t *handle, int status, int);

	static void onTickTimer(uv_timer_t *handle);

	void listDue(Validator::TreeSet due);

	// With a trusted generation file: a tick whose file is as the last one saw it
	// (and no full rescan is due) is skipped. The look runs on a worker too.
	void lookAtGeneration(Validator::TreeSet due);

	static void onSafetyTimer(uv_timer_t *handle);

	static void onDueTimer(uv_timer_t *handle);

	static void onDoneAsync(uv_async_t *handle) { of(handle->data)->executor->runCompletions(); }

	// The binding's Engine::open: the handles, the workers, and the first work.
	Result<void> open(uv_loop_t *loop);

	void onClassified(const std::array<FsClass, 3> &found);
};

} // namespace lw

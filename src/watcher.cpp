// The event engine on a libuv loop: inotify where it can, rescans where it must.
#include <layerwatch/watcher.h>

#include "fs_classify.h"
#include "identity.h"
#include "inotify_source.h"
#include "reconciler.h"
#include "root.h"

#include <layerwatch/paths.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

namespace lw {

namespace {

constexpr std::array<Tree, 3> kTrees = {Tree::Overlay, Tree::Layers, Tree::Images};
constexpr std::uint64_t kPendingFirstMs = 500, kPendingMaxMs = 30000;
constexpr std::uint64_t kResyncMaxBackoffMs = 30000;

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

struct Watcher::Impl {
	WatcherOptions options;
	EventCallback onEvent;
	UniqueFd rootFd;
	Store store;
	std::unique_ptr<Reconciler> reconciler;
	std::unique_ptr<InotifySource> inotify;

	uv_loop_t *loop = nullptr;
	uv_loop_t ownLoop{};
	bool ownsLoop = false;
	std::thread thread;

	uv_poll_t poll{};
	uv_timer_t rescanTimer{}, safetyTimer{}, pendingTimer{}, resyncTimer{};
	uv_async_t stopAsync{};
	int openHandles = 0;

	std::mutex stateMutex; // guards started / stopping against stop() from other threads
	bool started = false, stopping = false;
	std::atomic<bool> closedFlag{false};

	std::array<std::atomic<bool>, 3> remote{}, polled{};
	std::set<std::pair<Tree, std::string>> batch;
	std::array<const char *, 3> stale{};
	std::array<bool, 3> watchLimitTold{};
	std::uint64_t resyncBackoffMs = 0, lastOverflowMs = 0;
	std::uint64_t pendingBackoffMs = kPendingFirstMs;

	std::atomic<std::uint64_t> kernelEvents{0}, batches{0}, coalesced{0}, rescans{0}, resyncs{0}, lastRescanUs{0},
		watches{0}, pending{0}, generationSkips{0};
	// The generation file as the last periodic rescan saw it, and when that was.
	std::optional<FileId> lastGeneration;
	std::uint64_t lastFullRescanMs = 0;

	void log(LogLevel level, const std::string &message)
	{
		if (options.log && level >= options.logLevel) {
			try {
				options.log(level, message);
			} catch (...) {
			}
		}
	}

	void deliver(std::vector<Event> &events, EventSource source)
	{
		for (auto &e : events) {
			e.source = source;
			if (e.type == EventType::Error)
				log(LogLevel::Error, e.message);
			else if (e.type == EventType::Pending)
				log(LogLevel::Info, fmt::format("pending {} {}: {}", e.kind, e.id, e.reason));
			try {
				if (onEvent)
					onEvent(e);
			} catch (const std::exception &ex) {
				log(LogLevel::Error, fmt::format("event callback threw: {}", ex.what()));
			} catch (...) {
				log(LogLevel::Error, "event callback threw");
			}
		}
		pending = reconciler->pendingCount();
		if (inotify)
			watches = inotify->watchCount();
	}

	// Content watches follow what may still change: pending overlay and layer
	// folders, and every image folder (a tag rewrites images.json in place). A new
	// watch comes with one more look at its id, for what was written before it.
	std::vector<std::pair<Tree, std::string>> updateWatches(const std::vector<Event> &events)
	{
		std::vector<std::pair<Tree, std::string>> lookAgain;
		if (!inotify)
			return lookAgain;
		auto watch = [&](Tree tree, const std::string &id) {
			if (polled[static_cast<int>(tree)] || inotify->itemWatched(tree, id))
				return;
			auto r = inotify->watchItem(tree, id);
			if (r) {
				lookAgain.emplace_back(tree, id);
			} else if (r.error().code == ENOSPC || r.error().code == ENOMEM) {
				fallBackToRescan(tree, "watch_limit", r.error().message);
			}
		};
		for (const auto &e : events) {
			switch (e.type) {
			case EventType::Pending:
				if (e.kind == "image") {
					watch(Tree::Images, e.id);
				} else {
					watch(Tree::Overlay, e.id);
					if (e.kind == "layer")
						watch(Tree::Layers, e.id);
				}
				break;
			case EventType::LayerAdded:
				inotify->unwatchItem(Tree::Overlay, e.id);
				inotify->unwatchItem(Tree::Layers, e.id);
				break;
			case EventType::ImageAdded:
			case EventType::ImageUpdated:
				watch(Tree::Images, e.id);
				break;
			case EventType::ImageRemoved:
				inotify->unwatchItem(Tree::Images, e.id);
				break;
			default:
				break;
			}
		}
		return lookAgain;
	}

	void fallBackToRescan(Tree tree, const char *reason, const std::string &detail)
	{
		int t = static_cast<int>(tree);
		polled[t] = true;
		startRescanTimer();
		if (watchLimitTold[t])
			return;
		watchLimitTold[t] = true;
		++resyncs;
		log(LogLevel::Warning, fmt::format("{}: {}; rescanning it every {} ms instead", treeName(tree), detail,
						   options.intervalMs));
		std::vector<Event> events{{.type = EventType::Resync, .reason = reason, .tree = treeName(tree)}};
		deliver(events, EventSource::Rescan);
	}

	void reconcile(std::vector<Event> events, EventSource source)
	{
		for (int round = 0; round < 4; ++round) {
			auto lookAgain = updateWatches(events);
			bool newPending = std::any_of(events.begin(), events.end(),
						      [](const Event &e) { return e.type == EventType::Pending; });
			if (newPending)
				pendingBackoffMs = kPendingFirstMs;
			deliver(events, source);
			if (lookAgain.empty())
				break;
			events = reconciler->recheck(lookAgain);
		}
		schedulePendingCheck();
	}

	void rescan(Validator::TreeSet trees, EventSource source)
	{
		auto start = std::chrono::steady_clock::now();
		auto events = reconciler->rescan(trees);
		lastRescanUs = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
			std::chrono::steady_clock::now() - start).count());
		++rescans;
		reconcile(std::move(events), source);
	}

	// After inotify records were drained: resyncs first, then the coalesced ids.
	void flush()
	{
		Validator::TreeSet staleTrees{};
		bool anyStale = false, overflow = false;
		std::vector<Event> resyncEvents;
		for (Tree tree : kTrees) {
			int t = static_cast<int>(tree);
			if (!stale[t])
				continue;
			anyStale = staleTrees[t] = true;
			overflow = overflow || std::string_view(stale[t]) == "overflow";
			resyncEvents.push_back({.type = EventType::Resync, .reason = stale[t], .tree = treeName(tree)});
			++resyncs;
			stale[t] = nullptr;
		}
		if (anyStale) {
			log(LogLevel::Warning, fmt::format("view may be stale ({}): rescanning", resyncEvents.front().reason));
			deliver(resyncEvents, EventSource::Rescan);
			// Overflows that keep coming are answered more and more slowly.
			std::uint64_t now = nowMs();
			if (overflow && now - lastOverflowMs < std::max<std::uint64_t>(resyncBackoffMs, 1000))
				resyncBackoffMs = std::min(kResyncMaxBackoffMs, std::max<std::uint64_t>(resyncBackoffMs * 2, 250));
			else
				resyncBackoffMs = 0;
			if (overflow)
				lastOverflowMs = now;
			rewatchLostTrees();
			if (resyncBackoffMs > 0)
				uv_timer_start(&resyncTimer, &Impl::onResyncTimer, resyncBackoffMs, 0);
			else
				rescan(staleTrees, EventSource::Rescan);
		}
		if (!batch.empty()) {
			std::vector<std::pair<Tree, std::string>> items(batch.begin(), batch.end());
			batch.clear();
			++batches;
			coalesced += items.size();
			reconcile(reconciler->refresh(items), EventSource::Inotify);
		}
	}

	// A tree whose watch went (deleted, remounted) is watched again if it is back.
	void rewatchLostTrees()
	{
		if (!inotify)
			return;
		for (Tree tree : kTrees) {
			int t = static_cast<int>(tree);
			if (inotify->treeWatched(tree) || (polled[t] && remote[t]) || options.mode == WatchMode::Poll)
				continue;
			if (inotify->watchTree(tree)) {
				if (!remote[t])
					polled[t] = false;
			} else {
				polled[t] = true;
				startRescanTimer();
			}
		}
	}

	void schedulePendingCheck()
	{
		bool waiting = reconciler->pendingCount() > 0 || reconciler->hasRetries();
		if (!waiting) {
			uv_timer_stop(&pendingTimer);
			pendingBackoffMs = kPendingFirstMs;
			return;
		}
		if (!uv_is_active(reinterpret_cast<uv_handle_t *>(&pendingTimer)))
			uv_timer_start(&pendingTimer, &Impl::onPendingTimer, pendingBackoffMs, 0);
	}

	void startRescanTimer()
	{
		if (!uv_is_active(reinterpret_cast<uv_handle_t *>(&rescanTimer)))
			uv_timer_start(&rescanTimer, &Impl::onRescanTimer, options.intervalMs, options.intervalMs);
	}

	static Impl *of(void *data) { return static_cast<Impl *>(data); }

	static void onPoll(uv_poll_t *handle, int status, int)
	{
		Impl *self = of(handle->data);
		if (status < 0) {
			self->log(LogLevel::Error, fmt::format("inotify poll: {}", uv_strerror(status)));
			for (Tree t : kTrees)
				self->stale[static_cast<int>(t)] = "poll_error";
		} else {
			long n = self->inotify->drain(self->options.maxRecordsPerPass);
			if (n < 0) {
				self->log(LogLevel::Error, fmt::format("inotify read: {}", std::strerror(static_cast<int>(-n))));
				for (Tree t : kTrees)
					self->stale[static_cast<int>(t)] = "read_error";
			} else {
				self->kernelEvents += static_cast<std::uint64_t>(n);
			}
		}
		self->flush();
	}

	static void onRescanTimer(uv_timer_t *handle)
	{
		Impl *self = of(handle->data);
		// The trees due now, taken before a lost watch comes back: a tree that gets
		// its watch again still needs this rescan, for what came before the watch.
		Validator::TreeSet trees{};
		bool any = false;
		for (Tree t : kTrees)
			any = (trees[static_cast<int>(t)] = self->polled[static_cast<int>(t)]) || any;
		self->rewatchLostTrees();
		if (any && !self->generationUnchanged())
			self->rescan(trees, EventSource::Rescan);
		if (std::none_of(self->polled.begin(), self->polled.end(), [](const auto &p) { return p.load(); }))
			uv_timer_stop(handle);
	}

	// With a trusted generation file: true when it is as the last rescan saw it (so
	// this tick can be skipped), else records it, taken before the rescan runs.
	bool generationUnchanged()
	{
		if (!options.trustGeneration)
			return false;
		FileId now = statId(rootFd.get(), std::string(paths::kGenerationFile));
		std::uint64_t t = nowMs();
		bool due = t - lastFullRescanMs >= options.fullRescanMs;
		if (now.ino != 0 && lastGeneration && *lastGeneration == now && !due) {
			++generationSkips;
			return true;
		}
		lastGeneration = now;
		lastFullRescanMs = t;
		return false;
	}

	static void onSafetyTimer(uv_timer_t *handle)
	{
		of(handle->data)->rescan(Validator::kAllTrees, EventSource::Rescan);
	}

	static void onResyncTimer(uv_timer_t *handle)
	{
		of(handle->data)->rescan(Validator::kAllTrees, EventSource::Rescan);
	}

	static void onPendingTimer(uv_timer_t *handle)
	{
		Impl *self = of(handle->data);
		std::vector<std::pair<Tree, std::string>> items;
		for (const auto &p : self->reconciler->pending()) {
			if (p.kind == "image") {
				items.emplace_back(Tree::Images, p.id);
			} else {
				items.emplace_back(Tree::Overlay, p.id);
				if (p.kind == "layer")
					items.emplace_back(Tree::Layers, p.id);
			}
		}
		self->pendingBackoffMs = std::min(kPendingMaxMs, self->pendingBackoffMs * 2);
		self->reconcile(self->reconciler->recheck(items), EventSource::Rescan);
	}

	static void onStopAsync(uv_async_t *handle) { of(handle->data)->closeAll(); }

	static void onClosed(uv_handle_t *handle)
	{
		Impl *self = of(handle->data);
		if (--self->openHandles > 0)
			return;
		std::vector<Event> events{{.type = EventType::Stopped}};
		self->deliver(events, EventSource::Rescan);
		self->closedFlag = true;
	}

	void closeAll()
	{
		auto close = [&](auto *handle) {
			auto *h = reinterpret_cast<uv_handle_t *>(handle);
			if (!uv_is_closing(h))
				uv_close(h, &Impl::onClosed);
		};
		if (inotify)
			close(&poll);
		close(&rescanTimer);
		close(&safetyTimer);
		close(&pendingTimer);
		close(&resyncTimer);
		close(&stopAsync);
	}

	Result<void> attach(uv_loop_t *target)
	{
		{
			std::lock_guard lock(stateMutex);
			if (started)
				return makeError(EALREADY, "watcher already started");
			started = true;
		}
		loop = target;
		// Which trees another host may write behind inotify's back.
		for (Tree tree : kTrees) {
			int t = static_cast<int>(tree);
			std::string path = options.root + "/" + treeName(tree);
			auto cls = classifyPath(path);
			if (cls.type.empty())
				cls = classifyPath(options.root);
			remote[t] = cls.remote;
			polled[t] = cls.remote || options.mode == WatchMode::Poll;
			log(LogLevel::Info, fmt::format("{}: {} ({})", treeName(tree), cls.remote ? "remote, rescanned" : "local",
							cls.type.empty() ? "unknown" : cls.type));
		}
		if (options.mode == WatchMode::Fanotify)
			log(LogLevel::Warning, "fanotify backend not available in this build: using inotify");
		if (options.mode != WatchMode::Poll) {
			InotifyOutput output{
				[this](Tree tree, const std::string &id) { batch.emplace(tree, id); },
				[this](Tree tree, const char *reason) { stale[static_cast<int>(tree)] = reason; },
			};
			auto source = InotifySource::open(options.root, std::move(output));
			if (!source) {
				if (options.mode == WatchMode::Inotify) {
					// Nothing was made on the loop: the watcher may be freed or tried again.
					std::lock_guard lock(stateMutex);
					started = false;
					return source.error();
				}
				log(LogLevel::Warning, source.error().message + ": rescanning every tree instead");
				for (auto &p : polled)
					p = true;
			} else {
				inotify = std::move(*source);
				// Watches before the initial load: nothing written during it is missed.
				for (Tree tree : kTrees) {
					int t = static_cast<int>(tree);
					if (auto r = inotify->watchTree(tree); !r) {
						log(LogLevel::Warning, r.error().message + ": rescanning it instead");
						polled[t] = true;
					}
				}
			}
		}

		auto init = [&](auto *handle) {
			reinterpret_cast<uv_handle_t *>(handle)->data = this;
			++openHandles;
		};
		uv_async_init(loop, &stopAsync, &Impl::onStopAsync);
		init(&stopAsync);
		for (uv_timer_t *t : {&rescanTimer, &safetyTimer, &pendingTimer, &resyncTimer}) {
			uv_timer_init(loop, t);
			init(t);
		}
		if (inotify) {
			if (int r = uv_poll_init(loop, &poll, inotify->fd()); r < 0) {
				closeAll();
				return makeError(-r, fmt::format("uv_poll_init: {}", uv_strerror(r)));
			}
			init(&poll);
		}

		auto events = reconciler->initialLoad();
		reconcile(std::move(events), EventSource::Initial);
		auto snap = store.snapshot();
		std::vector<Event> ready{{.type = EventType::Ready, .imageCount = snap.imageCount(),
					  .layerCount = snap.layerCount(), .pendingCount = reconciler->pendingCount()}};
		deliver(ready, EventSource::Initial);

		if (inotify)
			uv_poll_start(&poll, UV_READABLE, &Impl::onPoll);
		if (std::any_of(polled.begin(), polled.end(), [](const auto &p) { return p.load(); }))
			startRescanTimer();
		if (options.localRescanMs > 0)
			uv_timer_start(&safetyTimer, &Impl::onSafetyTimer, options.localRescanMs, options.localRescanMs);
		return {};
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
		auto rootFd = openRoot(options.root);
		if (!rootFd)
			return rootFd.error();
		auto impl = std::make_unique<Impl>();
		impl->options = std::move(options);
		impl->onEvent = std::move(onEvent);
		impl->rootFd = std::move(*rootFd);
		impl->reconciler = std::make_unique<Reconciler>(impl->rootFd.get(), impl->store,
								ReconcileOptions{.commitLinks = impl->options.commitLinks});
		return std::unique_ptr<Watcher>(new Watcher(std::move(impl)));
	} catch (const std::exception &e) {
		return makeError(ENOMEM, e.what());
	}
}

Watcher::~Watcher()
{
	if (!impl_)
		return;
	if (impl_->ownsLoop) {
		stop();
		join();
		return;
	}
	bool running;
	{
		std::lock_guard lock(impl_->stateMutex);
		running = impl_->started;
	}
	if (running && !impl_->closedFlag) {
		// Handles still on the host's loop: freeing them now would be a use after
		// free. Leak rather than crash, and say so.
		impl_->log(LogLevel::Error, "watcher destroyed before its handles closed: leaking it");
		(void)impl_.release();
	}
}

Result<void> Watcher::attach(uv_loop_t *loop)
{
	try {
		if (!loop)
			return makeError(EINVAL, "no loop");
		return impl_->attach(loop);
	} catch (const std::exception &e) {
		return makeError(ENOMEM, e.what());
	}
}

Result<void> Watcher::start()
{
	try {
		if (int r = uv_loop_init(&impl_->ownLoop); r < 0)
			return makeError(-r, fmt::format("uv_loop_init: {}", uv_strerror(r)));
		impl_->ownsLoop = true;
		std::promise<Result<void>> attached;
		auto result = attached.get_future();
		impl_->thread = std::thread([this, &attached] {
			auto r = impl_->attach(&impl_->ownLoop);
			bool ok = r.ok();
			attached.set_value(std::move(r));
			if (ok)
				uv_run(&impl_->ownLoop, UV_RUN_DEFAULT);
		});
		auto r = result.get();
		if (!r) {
			impl_->thread.join();
			uv_loop_close(&impl_->ownLoop);
			impl_->ownsLoop = false;
		}
		return r;
	} catch (const std::exception &e) {
		return makeError(EAGAIN, e.what());
	}
}

void Watcher::stop()
{
	std::lock_guard lock(impl_->stateMutex);
	if (!impl_->started || impl_->stopping)
		return;
	impl_->stopping = true;
	uv_async_send(&impl_->stopAsync);
}

void Watcher::join()
{
	if (!impl_->ownsLoop || !impl_->thread.joinable())
		return;
	impl_->thread.join();
	if (int r = uv_loop_close(&impl_->ownLoop); r < 0)
		impl_->log(LogLevel::Error, fmt::format("own loop did not close: {}", uv_strerror(r)));
}

bool Watcher::closed() const
{
	return impl_->closedFlag;
}

Snapshot Watcher::snapshot() const
{
	return impl_->store.snapshot();
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
	s.pending = i.pending;
	for (int t = 0; t < 3; ++t) {
		s.remote[t] = i.remote[t];
		s.rescanned[t] = i.polled[t];
	}
	return s;
}

} // namespace lw

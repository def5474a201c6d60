// The public Watcher: checks its options, and hands each call to its insides.
#include "watcher_impl.h"

namespace lw {

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
	for (TreeId tree : kTreeIds) {
		s.remote[tree] = i.remote[static_cast<int>(tree)];
		s.rescanned[tree] = i.polled[static_cast<int>(tree)];
	}
	return s;
}

} // namespace lw

// What may have changed, as the engine hears it: the kernel source (fanotify or
// inotify) and the content watches that follow pending items and images, a tree
// fallen back to rescans, and the ticks that rescan remote and fallen-back trees.
#include "watcher_impl.h"

namespace lw {

void Watcher::Impl::updateWatches(const std::vector<Event> &events)
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
			fallBackToRescan(tree, ResyncReason::WatchLimit, r.error().message);
	};
	for (const auto &e : events) {
		switch (e.type) {
		case EventType::Pending:
			if (e.kind == ItemKind::Image) {
				watch(Tree::Images, e.id, true);
			} else {
				watch(Tree::Overlay, e.id, true);
				if (e.kind == ItemKind::Layer)
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

void Watcher::Impl::fallBackToRescan(Tree tree, ResyncReason reason, const std::string &detail)
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
	tell({.type = EventType::Resync, .resync = reason, .tree = tree});
}

void Watcher::Impl::flush()
{
	Validator::TreeSet overflowed{};
	std::vector<Event> resyncEvents;
	for (Tree tree : kTrees) {
		int t = static_cast<int>(tree);
		if (!stale[t])
			continue;
		// The kernel's queue says nothing of a tree it does not watch (a remote
		// one, or one fallen back to rescans): its own ticks keep it.
		if (*stale[t] == ResyncReason::Overflow && polled[t]) {
			stale[t].reset();
			continue;
		}
		if (*stale[t] == ResyncReason::Overflow)
			overflowed[t] = true;
		else
			policy.listWanted(tree);
		resyncEvents.push_back({.type = EventType::Resync, .resync = *stale[t], .tree = tree});
		++resyncs;
		stale[t].reset();
	}
	if (!resyncEvents.empty()) {
		log(LogLevel::Warning, fmt::format("view may be stale ({}): rescanning", name(resyncEvents.front().resync)));
		deliver(resyncEvents, EventSource::Rescan);
		policy.overflow(overflowed, nowMs());
		rewatchLostTrees();
	}
	dispatch();
}

void Watcher::Impl::rewatchLostTrees()
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

Result<std::unique_ptr<KernelSource>> Watcher::Impl::openKernelSource(SourceOutput output)
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

void Watcher::Impl::openSource()
{
	if (source || options.mode == WatchMode::Poll)
		return;
	SourceOutput output{
		[this](Tree tree, const std::string &id) { policy.changed(tree, id); },
		[this](Tree tree, ResyncReason reason) { stale[static_cast<int>(tree)] = reason; },
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
			auto reason = options.mode == WatchMode::Fanotify ? ResyncReason::NoFanotify : ResyncReason::NoInotify;
			for (Tree tree : kTrees)
				tell({.type = EventType::Resync, .resync = reason, .tree = tree});
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

void Watcher::Impl::startTickTimer()
{
	if (!stopping() && !uv_is_active(reinterpret_cast<uv_handle_t *>(&tickTimer)))
		uv_timer_start(&tickTimer, &Impl::onTickTimer, options.intervalMs, options.intervalMs);
}

void Watcher::Impl::onPoll(uv_poll_t *handle, int status, int)
{
	Impl *self = of(handle->data);
	if (status < 0) {
		self->log(LogLevel::Error, fmt::format("{} poll: {}", self->source->name(), uv_strerror(status)));
		for (Tree t : kTrees)
			self->stale[static_cast<int>(t)] = ResyncReason::PollError;
	} else {
		long n = self->source->drain(self->options.maxRecordsPerPass);
		if (n < 0) {
			self->log(LogLevel::Error, fmt::format("{} read: {}", self->source->name(),
							       std::strerror(static_cast<int>(-n))));
			for (Tree t : kTrees)
				self->stale[static_cast<int>(t)] = ResyncReason::ReadError;
		} else {
			self->kernelEvents += static_cast<std::uint64_t>(n);
		}
	}
	self->flush();
}

void Watcher::Impl::onTickTimer(uv_timer_t *handle)
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

void Watcher::Impl::listDue(Validator::TreeSet due)
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

void Watcher::Impl::lookAtGeneration(Validator::TreeSet due)
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

void Watcher::Impl::onSafetyTimer(uv_timer_t *handle)
{
	of(handle->data)->listDue(Validator::kAllTrees);
}

} // namespace lw

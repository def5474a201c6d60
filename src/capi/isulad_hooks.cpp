// iSulad's store hooks, in order, on their own thread, under iSulad's lock with the
// links that go with them.
#include "isulad_hooks.h"

#include "local_links.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

namespace lw::isulad {

namespace {

using Clock = std::chrono::steady_clock;

// ReplaceImage: a re-tag, removed and appended again under one hold of the lock, so
// that iSulad's readers never find the image absent.
enum class Kind { LoadLayer, RemoveLayer, AppendImage, RemoveImage, ReplaceImage };

const char *hookName(Kind kind)
{
	switch (kind) {
	case Kind::LoadLayer:
		return "remote_load_one_layer";
	case Kind::RemoveLayer:
		return "remote_layer_remove_memory_stores_with_lock";
	case Kind::AppendImage:
		return "remote_append_image_by_directory_with_lock";
	case Kind::RemoveImage:
		return "remote_remove_image_from_memory_with_lock";
	case Kind::ReplaceImage:
		return "remote_remove_image_from_memory_with_lock + remote_append_image_by_directory_with_lock";
	}
	return "?";
}

struct Call {
	Kind kind;
	std::string id;
	std::string on;   // a layer's parent, an image's top layer: "" when none or unknown
	std::string link; // a layer's short link: "" when unknown (gone before it was read)
	int failures = 0;
	Clock::time_point notBefore{};

	bool removal() const { return kind == Kind::RemoveLayer || kind == Kind::RemoveImage; }
	bool isAdditionOf(const Call &removal) const
	{
		if (id != removal.id)
			return false;
		if (removal.kind == Kind::RemoveLayer)
			return kind == Kind::LoadLayer;
		return kind == Kind::AppendImage || kind == Kind::ReplaceImage;
	}
};

// Result of a call made with the lock: the hook's, or why it was not called.
struct Outcome {
	int result = 0;
	std::string why; // when not 0: what failed
};

} // namespace

struct HookCaller::State {
	Hooks hooks;
	pthread_rwlock_t *lock;
	UniqueFd root;
	LogSink log;
	HookTiming timing;

	mutable std::mutex mutex;
	std::condition_variable wake;
	std::deque<Call> queue;
	bool inFlight = false; // the call picked is being made: not to be cancelled
	bool stopping = false;
	bool ended = false;
	std::thread::id thread;

	void say(LogLevel level, const std::string &message) const
	{
		if (log)
			log(level, message);
	}

	void push(Call call)
	{
		{
			std::lock_guard guard(mutex);
			if (call.removal()) {
				// An addition not made yet is not made. The removal still is: iSulad
				// may hold the item since its start, which no addition of ours
				// told it (and a removal of what it does not hold is a no-op there).
				// The front may be in flight: it stays.
				auto first = queue.begin() + (inFlight ? 1 : 0);
				auto it = std::find_if(first, queue.end(), [&](const Call &c) { return c.isAdditionOf(call); });
				if (it != queue.end())
					queue.erase(it);
			}
			queue.push_back(std::move(call));
		}
		wake.notify_all();
	}

	// The first call that may be made now: not waiting for its retry, nor behind an
	// earlier call that waits and that it needs: an earlier change of itself, the load
	// of its parent or top layer, and for a layer's removal, the removal of what
	// stands on it (a waiting addition holds back only what names its id; a waiting
	// removal also what names the layer it stood on). Moved to the front, so that the
	// order of what is made stays the queue's. Else when to look again (none: nothing
	// waits on a time).
	std::optional<Clock::time_point> pickNext(Clock::time_point now, bool &picked)
	{
		picked = false;
		std::optional<Clock::time_point> next;
		std::unordered_set<std::string> held; // ids that waiting calls hold back
		auto waits = [&](const Call &c) {
			return c.notBefore > now || held.count(c.id) || (!c.on.empty() && held.count(c.on));
		};
		for (auto it = queue.begin(); it != queue.end(); ++it) {
			if (waits(*it)) {
				if (it->notBefore > now)
					next = next ? std::min(*next, it->notBefore) : it->notBefore;
				held.insert(it->id);
				if (it->removal() && !it->on.empty())
					held.insert(it->on);
				continue;
			}
			if (it != queue.begin()) {
				Call c = std::move(*it);
				queue.erase(it);
				queue.push_front(std::move(c));
			}
			picked = true;
			return std::nullopt;
		}
		return next;
	}

	// Takes the lock for writing, looking at stopping between slices of waiting (a
	// reader may hold it for long: a pull, or a cleanup called with it held).
	bool lockForWriting()
	{
		for (;;) {
			{
				std::lock_guard guard(mutex);
				if (stopping)
					return false;
			}
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(timing.lockSlice).count();
			until.tv_sec += static_cast<time_t>((until.tv_nsec + slice) / 1000000000);
			until.tv_nsec = static_cast<long>((until.tv_nsec + slice) % 1000000000);
			int r = pthread_rwlock_timedwrlock(lock, &until);
			if (r == 0)
				return true;
			if (r != ETIMEDOUT) {
				say(LogLevel::Error, fmt::format("iSulad's remote lock: {}", std::strerror(r)));
				std::unique_lock guard(mutex);
				wake.wait_for(guard, timing.retry, [&] { return stopping; });
			}
		}
	}

	// The call with its links, under the lock. A layer's links are made before it is
	// loaded, and taken back if it is not: iSulad must not see one without the other.
	Outcome make(const Call &c)
	{
		int rootFd = root.get();
		switch (c.kind) {
		case Kind::LoadLayer: {
			if (auto r = links::create(rootFd, c.id, c.link); !r)
				return {-r.error().code, "links: " + r.error().message};
			int result = hooks.loadLayer(c.id.c_str());
			if (result != 0)
				if (auto r = links::remove(rootFd, c.id, c.link); !r)
					say(LogLevel::Error, fmt::format("layer {}: taking its links back: {}", c.id, r.error().message));
			return {result, {}};
		}
		case Kind::RemoveLayer: {
			int result = hooks.removeLayer(c.id.c_str());
			if (result != 0)
				return {result, {}};
			if (auto r = links::remove(rootFd, c.id, c.link); !r)
				say(LogLevel::Error, fmt::format("layer {}: removing its links: {}", c.id, r.error().message));
			return {0, {}};
		}
		case Kind::AppendImage:
			return {hooks.appendImage(c.id.c_str()), {}};
		case Kind::RemoveImage:
			return {hooks.removeImage(c.id.c_str()), {}};
		case Kind::ReplaceImage:
			if (int result = hooks.removeImage(c.id.c_str()); result != 0)
				return {result, "the removal failed"};
			return {hooks.appendImage(c.id.c_str()), {}};
		}
		return {-EINVAL, "unknown call"};
	}

	void run()
	{
		std::unique_lock guard(mutex);
		thread = std::this_thread::get_id();
		for (;;) {
			if (stopping)
				break;
			bool picked = false;
			auto next = pickNext(Clock::now(), picked);
			if (!picked) {
				if (next)
					wake.wait_until(guard, *next);
				else
					wake.wait(guard);
				continue;
			}
			inFlight = true;
			Call c = queue.front();
			guard.unlock();
			std::optional<Outcome> outcome;
			if (lockForWriting()) {
				outcome = make(c);
				pthread_rwlock_unlock(lock);
			}
			guard.lock();
			inFlight = false;
			if (!outcome)
				continue; // stopping
			settle(c, *outcome);
		}
		ended = true;
		wake.notify_all();
	}

	// After a call: gone from the queue, or waiting for its retry. Told once when it
	// fails and once when it recovers, as a host's log wants it.
	void settle(const Call &c, const Outcome &outcome)
	{
		Call &front = queue.front();
		std::string what = fmt::format("{}({})", hookName(c.kind), c.id);
		if (outcome.result == 0) {
			if (front.failures)
				say(LogLevel::Warning, fmt::format("{} succeeded after {} failed tries", what, front.failures));
			queue.pop_front();
			return;
		}
		if (front.failures++ == 0)
			say(LogLevel::Error,
			    fmt::format("{} failed ({}){}; tried again every {} s, what depends on it waits", what,
					outcome.result, outcome.why.empty() ? "" : ": " + outcome.why,
					std::chrono::duration_cast<std::chrono::duration<double>>(timing.retry).count()));
		front.notBefore = Clock::now() + timing.retry;
	}
};

HookCaller::HookCaller(Hooks hooks, pthread_rwlock_t *lock, UniqueFd root, LogSink log, HookTiming timing)
	: state_(std::make_shared<State>())
{
	state_->hooks = hooks;
	state_->lock = lock;
	state_->root = std::move(root);
	state_->log = std::move(log);
	state_->timing = timing;
	// Detached, holding the state: stop() waits for it with a bound, and a process
	// that exits without stopping us (iSulad never calls remote_maintain_cleanup)
	// waits for nothing.
	std::thread([state = state_] {
		::pthread_setname_np(::pthread_self(), "lw-hooks");
		state->run();
	}).detach();
}

HookCaller::~HookCaller()
{
	stop(std::chrono::milliseconds(0));
}

void HookCaller::onEvent(const Event &event)
{
	auto layerCall = [&](Kind kind) {
		return Call{kind, event.id, event.layer ? event.layer->parent : "", event.layer ? event.layer->link : ""};
	};
	auto imageCall = [&](Kind kind) { return Call{kind, event.id, event.image ? event.image->topLayer : ""}; };
	switch (event.type) {
	case EventType::LayerAdded:
		state_->push(layerCall(Kind::LoadLayer));
		break;
	case EventType::LayerRemoved:
		state_->push(layerCall(Kind::RemoveLayer));
		break;
	case EventType::ImageAdded:
		state_->push(imageCall(Kind::AppendImage));
		break;
	case EventType::ImageUpdated:
		state_->push(imageCall(Kind::ReplaceImage));
		break;
	case EventType::ImageRemoved:
		state_->push(imageCall(Kind::RemoveImage));
		break;
	case EventType::Gone:
		state_->push(Call{event.kind == ItemKind::Image ? Kind::RemoveImage : Kind::RemoveLayer, event.id});
		break;
	default:
		break;
	}
}

bool HookCaller::stop(std::chrono::milliseconds wait)
{
	std::unique_lock guard(state_->mutex);
	state_->stopping = true;
	state_->wake.notify_all();
	if (std::this_thread::get_id() == state_->thread)
		return false; // from a hook: the thread ends once it returns
	return state_->wake.wait_for(guard, wait, [&] { return state_->ended; });
}

std::size_t HookCaller::queued() const
{
	std::lock_guard guard(state_->mutex);
	return state_->queue.size();
}

} // namespace lw::isulad

// An engine's life on a libuv loop: attach or start, stop, one close path, who frees.
#include "loop_binding.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include <pthread.h>

namespace lw {

LoopBinding::State LoopBinding::state() const
{
	std::lock_guard lock(mutex_);
	return state_;
}

Result<void> LoopBinding::attach(uv_loop_t *loop)
{
	{
		std::lock_guard lock(mutex_);
		if (stopAsked_)
			return makeError(ECANCELED, "watcher stopped before it started");
		if (state_ != State::Idle)
			return makeError(EALREADY, "watcher already started");
		// The stop's wake-up first: from here on stop() closes what the engine makes,
		// once the loop turns (after this call: the loop thread is in it).
		if (int r = uv_async_init(loop, &stopAsync_, &LoopBinding::onStop); r < 0)
			return makeError(-r, fmt::format("cannot start on the loop: {}", uv_strerror(r)));
		stopAsync_.data = this;
		loop_ = loop;
		handles_.push_back(reinterpret_cast<uv_handle_t *>(&stopAsync_));
		state_ = State::Running;
	}
	auto opened = engine_.open(loop);
	if (!opened)
		closeAll(); // what was made closes on the loop; closed() follows
	return opened;
}

Result<void> LoopBinding::start(const char *threadName)
{
	{
		std::lock_guard lock(mutex_);
		if (stopAsked_)
			return makeError(ECANCELED, "watcher stopped before it started");
		if (state_ != State::Idle || ownsLoop_)
			return makeError(EALREADY, "watcher already started");
	}
	if (int r = uv_loop_init(&ownLoop_); r < 0)
		return makeError(-r, fmt::format("uv_loop_init: {}", uv_strerror(r)));
	ownsLoop_ = true;
	std::promise<void> go;
	std::promise<Result<void>> attached;
	auto result = attached.get_future();
	thread_ = std::thread([this, threadName, started = go.get_future(), &attached]() mutable {
		::pthread_setname_np(::pthread_self(), threadName); // as top -H and gdb show it
		started.wait(); // thread_ is set: the thread may be joined or detached
		loopThread_ = std::this_thread::get_id();
		attached.set_value(attach(&ownLoop_)); // (attached is not touched again)
		// Runs until every handle closed (those made by a failed attach too).
		uv_run(&ownLoop_, UV_RUN_DEFAULT);
		bool orphaned;
		{
			std::lock_guard lock(mutex_);
			orphaned = orphaned_;
		}
		if (orphaned) {
			// Let go from its own callback: the thread was detached; it frees.
			uv_loop_close(&ownLoop_);
			auto free = engine_.free; // (a copy: it frees what holds engine_)
			free();
		}
	});
	go.set_value();
	auto r = result.get();
	if (!r) {
		// The thread ends once what was made closed; then it may be started again.
		thread_.join();
		uv_loop_close(&ownLoop_);
		ownsLoop_ = false;
		std::lock_guard lock(mutex_);
		state_ = State::Idle;
	}
	return r;
}

void LoopBinding::stop()
{
	std::lock_guard lock(mutex_);
	stopAsked_ = true;
	if (state_ == State::Running)
		uv_async_send(&stopAsync_);
}

Result<void> LoopBinding::join()
{
	if (!ownsLoop_ || !thread_.joinable() || onOwnThread())
		return {};
	thread_.join();
	if (int r = uv_loop_close(&ownLoop_); r < 0)
		return makeError(-r, fmt::format("own loop did not close: {}", uv_strerror(r)));
	return {};
}

bool LoopBinding::release()
{
	if (ownsLoop_ && !onOwnThread()) {
		stop();
		(void)join(); // (its own loop: nothing of ours is left on it)
		return true;
	}
	std::lock_guard lock(mutex_);
	// Handles still open, or the last one's callback running (let go from inside it),
	// or, with a loop of its own, its thread still to leave uv_run: not now.
	bool onLoop = state_ == State::Running || state_ == State::Stopping || state_ == State::TellingStopped ||
		      (state_ == State::Closed && onOwnThread());
	if (!onLoop)
		return true;
	orphaned_ = true;
	if (state_ == State::Running)
		uv_async_send(&stopAsync_);
	if (onOwnThread())
		thread_.detach(); // it ends by itself once its loop has closed, and frees
	return false;
}

void LoopBinding::adoptHandle(uv_handle_t *handle)
{
	handles_.push_back(handle);
}

void LoopBinding::closeAll()
{
	{
		std::lock_guard lock(mutex_);
		if (state_ != State::Running)
			return;
		state_ = State::Stopping;
	}
	engine_.stopping();
	// A closing handle calls nothing but its close callback: data is ours from here.
	for (uv_handle_t *handle : handles_)
		if (!uv_is_closing(handle)) {
			handle->data = this;
			uv_close(handle, &LoopBinding::onClosed);
		}
}

void LoopBinding::onStop(uv_async_t *handle)
{
	static_cast<LoopBinding *>(handle->data)->closeAll();
}

void LoopBinding::onClosed(uv_handle_t *handle)
{
	auto *self = static_cast<LoopBinding *>(handle->data);
	auto &handles = self->handles_;
	handles.erase(std::find(handles.begin(), handles.end(), handle));
	if (!handles.empty())
		return;
	{
		std::lock_guard lock(self->mutex_);
		self->state_ = State::TellingStopped;
	}
	self->engine_.closed(); // the owner may let go from inside it (or meanwhile)
	bool freeNow;
	{
		std::lock_guard lock(self->mutex_);
		self->state_ = State::Closed;
		// With a loop of its own, its thread frees once the loop has closed.
		freeNow = self->orphaned_ && !self->ownsLoop_;
	}
	if (freeNow) {
		auto free = self->engine_.free;
		free();
	}
}

} // namespace lw

// The engine's life on a libuv loop, apart from what it does there: attached to a
// host's loop or running one on a thread of its own, the handles made on it (each
// closed once, through one path), a stop asked from any thread, and who frees the
// engine when its owner lets go while handles are still open (destroyed from a
// callback, or from another thread while the loop runs). One state, and whether a
// stop was asked, under one mutex.
// Unit tests drive it with an engine of a timer (test/unit/loop_binding_test).
#pragma once

#include <layerwatch/result.h>

#include <uv.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lw {

class LoopBinding {
public:
	// What the engine does at each step, each called on the loop thread.
	struct Engine {
		// Makes the engine's handles, each given to adopt(). An error stops the start:
		// what was adopted closes, and closed() follows.
		std::function<Result<void>(uv_loop_t *)> open;
		// A stop, before the handles close (reads in flight are let go).
		std::function<void()> stopping;
		// The last handle closed: the engine's last word (its Stopped event). The
		// owner may let go from inside it.
		std::function<void()> closed;
		// Frees the engine this binding belongs to, when its owner let go first.
		std::function<void()> free;
	};

	enum class State {
		Idle,           // on no loop: attach() or start() may come
		Running,        // on a loop; stop() wakes it
		Stopping,       // every handle closing
		TellingStopped, // the last one closed; Engine::closed runs
		Closed,
	};

	explicit LoopBinding(Engine engine) : engine_(std::move(engine)) {}
	LoopBinding(const LoopBinding &) = delete;
	LoopBinding &operator=(const LoopBinding &) = delete;

	// On the host's loop, from its thread. EALREADY when started before, ECANCELED
	// when stopped before.
	Result<void> attach(uv_loop_t *loop);
	// On a loop and a thread of its own (named threadName), until every handle closed.
	Result<void> start(const char *threadName);
	// Any thread, any moment: handles close on the loop, and any start from now on
	// is refused (one that was failing as it came too).
	void stop();
	// With start(): waits for the thread to end (not from the thread itself), and
	// closes its loop.
	Result<void> join();
	// The owner lets go (its destructor), from any thread: true when the engine may be
	// freed now; false when the binding frees it once its last handle closed.
	bool release();

	// On the loop thread, from Engine::open to Engine::stopping (nothing of the
	// engine's runs on the loop after that): a handle initialised with result (0:
	// made) is closed with the others.
	template <class Handle>
	int adopt(Handle *handle, int result)
	{
		if (result == 0)
			adoptHandle(reinterpret_cast<uv_handle_t *>(handle));
		return result;
	}
	// Loop thread: every handle closes (what stop() does once the loop wakes).
	void closeAll();

	bool running() const { return state() == State::Running; }
	bool closed() const { return state() >= State::TellingStopped; }
	State state() const;
	uv_loop_t *loop() const { return loop_; }

private:
	void adoptHandle(uv_handle_t *handle);
	static void onStop(uv_async_t *handle);
	static void onClosed(uv_handle_t *handle);
	bool onOwnThread() const { return ownsLoop_ && loopThread_ == std::this_thread::get_id(); }

	Engine engine_;
	mutable std::mutex mutex_;
	State state_ = State::Idle;    // guarded by mutex_
	bool stopAsked_ = false;       // guarded by mutex_: a start from now on is refused
	bool orphaned_ = false;        // guarded by mutex_: the owner let go; the binding frees
	uv_loop_t *loop_ = nullptr;
	uv_async_t stopAsync_{};
	std::vector<uv_handle_t *> handles_; // open ones, stopAsync_ among them
	// A loop of its own: set by start(), cleared only when that start failed.
	bool ownsLoop_ = false;
	uv_loop_t ownLoop_{};
	std::thread thread_;
	std::atomic<std::thread::id> loopThread_{}; // its id, as the thread itself set it
};

} // namespace lw

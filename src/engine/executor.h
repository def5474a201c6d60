// The I/O executor: runs blocking reads of the shared trees on worker threads and
// hands each result back to the loop thread (DESIGN.md section 4, "Threads").
//
// Workers are detached and share only the executor's core: a worker stuck in the
// kernel on a server that stopped answering owns nothing the host frees, never
// blocks stop(), and whatever it finishes after shutdown() is dropped. Thread-safe:
// post() and shutdown() from the loop thread, the wake-up from any.
#pragma once

#include <layerwatch/result.h>

#include <functional>
#include <memory>

namespace lw {

class Executor {
public:
	// What a worker runs; it returns what the loop thread then runs with the result.
	using Completion = std::function<void()>;
	using Work = std::function<Completion()>;

	// At most maxThreads workers, started as work comes. wake is called (from a
	// worker) when a completion is ready: the engine's uv_async_send.
	Executor(unsigned maxThreads, std::function<void()> wake);
	~Executor(); // shutdown()
	Executor(const Executor &) = delete;
	Executor &operator=(const Executor &) = delete;

	// Queues work. EAGAIN when no worker thread exists and none can be started.
	Result<void> post(Work work);
	// Runs the completions that are ready, in the order they finished. Loop thread.
	void runCompletions();
	// From now on nothing is run or woken; queued work is dropped.
	void shutdown();
	// Work running on a worker now (after shutdown too: a read stuck in the kernel).
	unsigned busy() const;
	// Worker threads alive (they end once shut down and idle).
	unsigned threads() const;

private:
	struct Core;
	std::shared_ptr<Core> core_;
};

} // namespace lw

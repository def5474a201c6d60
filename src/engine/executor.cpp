// Worker threads for blocking reads; results handed back to the loop thread.
#include "executor.h"

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

namespace lw {

struct Executor::Core {
	std::mutex mutex;
	std::condition_variable ready;
	std::deque<Work> queue;
	std::deque<Completion> done;
	std::function<void()> wake;
	bool shut = false;
	unsigned threads = 0, idle = 0, maxThreads = 1;

	// A worker's life: take work, run it without the lock, hand back the result.
	static void work(const std::shared_ptr<Core> &core)
	{
		::pthread_setname_np(::pthread_self(), "lw-read"); // as top -H and gdb show it
		std::unique_lock lock(core->mutex);
		for (;;) {
			core->ready.wait(lock, [&] { return core->shut || !core->queue.empty(); });
			if (core->shut)
				break;
			Work job = std::move(core->queue.front());
			core->queue.pop_front();
			--core->idle;
			lock.unlock();
			Completion completion;
			try {
				completion = job();
			} catch (...) {
				// Out of memory in a read: nothing to hand back; the engine's own
				// deadline notices the job never came back.
			}
			job = nullptr; // its captures go here, off the lock
			lock.lock();
			++core->idle;
			if (!core->shut && completion) {
				core->done.push_back(std::move(completion));
				if (core->wake)
					core->wake();
			}
		}
		// It leaves idle: busy() (threads - idle) must not count it, nor wrap.
		--core->idle;
		--core->threads;
	}
};

Executor::Executor(unsigned maxThreads, std::function<void()> wake) : core_(std::make_shared<Core>())
{
	core_->maxThreads = maxThreads == 0 ? 1 : maxThreads;
	core_->wake = std::move(wake);
}

Executor::~Executor()
{
	shutdown();
}

Result<void> Executor::post(Work work)
{
	std::unique_lock lock(core_->mutex);
	if (core_->shut)
		return makeError(ECANCELED, "executor: shut down");
	core_->queue.push_back(std::move(work));
	if (core_->idle >= core_->queue.size()) {
		// Notified off the lock, so that the worker woken does not wait for it.
		lock.unlock();
		core_->ready.notify_one();
		return {};
	}
	if (core_->threads < core_->maxThreads) {
		try {
			std::thread(&Core::work, core_).detach();
			++core_->threads;
			++core_->idle;
		} catch (const std::system_error &e) {
			if (core_->threads == 0) {
				core_->queue.pop_back();
				return makeError(EAGAIN, std::string("executor: no worker thread: ") + e.what());
			}
			// The workers there are will get to it.
		}
	}
	return {};
}

void Executor::runCompletions()
{
	std::deque<Completion> ready;
	{
		std::lock_guard lock(core_->mutex);
		ready.swap(core_->done);
	}
	for (auto &completion : ready)
		completion();
}

unsigned Executor::busy() const
{
	std::lock_guard lock(core_->mutex);
	return core_->threads - core_->idle;
}

unsigned Executor::threads() const
{
	std::lock_guard lock(core_->mutex);
	return core_->threads;
}

void Executor::shutdown()
{
	std::deque<Work> dropped;
	std::deque<Completion> unrun;
	{
		std::lock_guard lock(core_->mutex);
		core_->shut = true;
		core_->wake = nullptr;
		dropped.swap(core_->queue);
		unrun.swap(core_->done);
	}
	core_->ready.notify_all();
}

} // namespace lw

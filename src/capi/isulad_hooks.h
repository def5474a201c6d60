// iSulad's four store hooks, called for the changes the watcher reports: in their
// order (layers parent-first, an image after its chain; removals images first, then
// layers children-first), on a thread of their own, with iSulad's remote lock held
// for writing around each call and never otherwise. The watcher's loop only queues:
// a daemon holding its lock for long cannot stall the reading of the share.
#pragma once

#include <layerwatch/events.h>

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace lw::isulad {

using Hook = int (*)(const char *id);

struct Hooks {
	Hook loadLayer = nullptr;   // remote_load_one_layer
	Hook removeLayer = nullptr; // remote_layer_remove_memory_stores_with_lock
	Hook appendImage = nullptr; // remote_append_image_by_directory_with_lock
	Hook removeImage = nullptr; // remote_remove_image_from_memory_with_lock
	bool complete() const { return loadLayer && removeLayer && appendImage && removeImage; }
};

class HookCaller {
public:
	// A hook that fails (not 0) is called again after retry, up to kAttempts times in
	// its place (what comes after waits: the order holds); then it goes to the back of
	// the queue, so that one item iSulad cannot load does not hold up every other.
	static constexpr int kAttempts = 5;
	HookCaller(Hooks hooks, pthread_rwlock_t *lock, std::function<void(const std::string &)> log,
		   std::chrono::milliseconds retry = std::chrono::seconds(1));
	~HookCaller(); // calls nothing more; waits for a call in progress
	HookCaller(const HookCaller &) = delete;
	HookCaller &operator=(const HookCaller &) = delete;

	// From the watcher's loop: queues the hook calls an event asks for. A removal
	// whose addition is still queued (not yet called) cancels it: iSulad is told
	// neither. An image updated in place (a tag) is removed and appended again:
	// iSulad has no update hook.
	void onEvent(const Event &event);
	// Calls queued and not yet made.
	std::size_t queued() const;

private:
	enum class Kind { LoadLayer, RemoveLayer, AppendImage, RemoveImage };
	struct Call {
		Kind kind;
		std::string id;
		int failures = 0;
	};
	void push(Kind kind, const std::string &id);
	void run();
	int call(const Call &c);

	Hooks hooks_;
	pthread_rwlock_t *lock_;
	std::function<void(const std::string &)> log_;
	std::chrono::milliseconds retry_;
	mutable std::mutex mutex_;
	std::condition_variable wake_;
	std::deque<Call> queue_;
	bool frontInFlight_ = false; // the front call is being made: not to be cancelled
	bool stopping_ = false;
	std::thread thread_;
};

} // namespace lw::isulad

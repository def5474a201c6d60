// iSulad's four store hooks, called for the changes the watcher reports, as upstream's
// refresh thread calls them (remote_layer_support/), where iSulad relies on it:
//  - on a thread of their own ("lw-hooks"), in the watcher's order (layers
//    parent-first, an image after its chain; removals images first, then layers
//    children-first);
//  - with iSulad's remote lock held for writing around each call and the local link
//    changes that go with it: a layer's links are made right before
//    remote_load_one_layer and removed right after its removal hook, so that a pull,
//    which holds the lock for reading and looks only at memory before it makes a
//    layer, never meets a link without its layer (its EEXIST path deletes the
//    share's RO/<id>). Nothing under the lock reads the share;
//  - a hook that fails is called again once per period (upstream's refresh), logged
//    once and once more when it recovers; what shares an id with it (a child layer,
//    an image on it, a later change of it) waits behind it, the rest goes on.
// The watcher's loop only queues: a daemon holding its lock for long cannot stall
// the reading of the share.
#pragma once

#include "journal_log.h"
#include "unique_fd.h"

#include <layerwatch/events.h>

#include <pthread.h>

#include <chrono>
#include <memory>
#include <string>

namespace lw::isulad {

using Hook = int (*)(const char *id);

struct Hooks {
	Hook loadLayer = nullptr;   // remote_load_one_layer
	Hook removeLayer = nullptr; // remote_layer_remove_memory_stores_with_lock
	Hook appendImage = nullptr; // remote_append_image_by_directory_with_lock
	Hook removeImage = nullptr; // remote_remove_image_from_memory_with_lock
	bool complete() const { return loadLayer && removeLayer && appendImage && removeImage; }
};

struct HookTiming {
	// A failed call is made again after this long (upstream refreshes every 5 s).
	std::chrono::milliseconds retry = std::chrono::seconds(5);
	// How long the thread waits for the lock between two looks at a stop.
	std::chrono::milliseconds lockSlice = std::chrono::milliseconds(100);
};

class HookCaller {
public:
	// root: the storage root, for the links (the caller's fd is kept by the caller).
	HookCaller(Hooks hooks, pthread_rwlock_t *lock, UniqueFd root, LogSink log, HookTiming timing = {});
	// Stops (see stop()) without waiting: the thread holds what it uses.
	~HookCaller();
	HookCaller(const HookCaller &) = delete;
	HookCaller &operator=(const HookCaller &) = delete;

	// From the watcher's loop: queues the calls an event asks for. A removal whose
	// addition is still queued (not yet made) cancels the addition. An image updated
	// in place (a tag) is removed and appended again under one hold of the lock:
	// iSulad has no update hook, and its readers never see it absent. A layer or an
	// image gone before it was ever ready is removed too: iSulad may have loaded it
	// at start (its stores read the links and folders before the refresh starts),
	// whatever layerwatch made of it.
	void onEvent(const Event &event);

	// Calls nothing more. Waits up to wait for a call in progress (or a wait for the
	// lock, which it gives up) to end; a hook that takes longer is left to end on its
	// thread, which then ends too. From that thread itself (a hook that stops us) it
	// does not wait. Returns whether the thread has ended.
	bool stop(std::chrono::milliseconds wait);

	// Calls queued and not yet made (failed ones waiting included).
	std::size_t queued() const;

	struct State;

private:
	std::shared_ptr<State> state_;
};

} // namespace lw::isulad

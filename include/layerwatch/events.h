// What the reader tells its host: store changes, pending items and resyncs, in the
// order they happened (DESIGN.md section 6 names them).
#pragma once

#include <layerwatch/store.h>
#include <layerwatch/vocabulary.h>

#include <optional>
#include <string>
#include <vector>

namespace lw {

enum class EventType {
	LayerAdded,
	LayerRemoved,
	ImageAdded,
	ImageUpdated,
	ImageRemoved,
	Pending, // an item is not ready, or its reason changed
	Resync,  // the view may have been stale; a tree was rescanned
	Error,   // trouble reading (message; tree, id and code when it concerns one)
	Ready,   // the initial load is done (counts in imageCount, layerCount, pendingCount)
	Stopped, // the watcher has stopped
	// An item never committed (pending, or in no state yet) whose folder left the share:
	// a layer's overlay-layers/RO/<id>, an image's overlay-images/<id> (kind, id). Told
	// only with WatcherOptions::tellGone, for a host that loaded items of its own at
	// start (iSulad's module): nothing else reports it. Images come before layers, and
	// both before the LayerRemoved events of the same batch.
	Gone,
};

// What produced an event (Stop: the Stopped event).
enum class EventSource { Initial, Inotify, Fanotify, Rescan, Stop };

// "initial", "inotify", "fanotify", "rescan", "stop".
LW_EXPORT const char *sourceName(EventSource source);

// "layer_added", "image_updated", "pending", ...: the names of `watch --json`.
LW_EXPORT const char *eventName(EventType type);

struct Event {
	EventType type = EventType::Error;
	std::string id;
	LayerPtr layer; // LayerAdded, LayerRemoved
	ImagePtr image; // ImageAdded, ImageUpdated, ImageRemoved
	ItemKind kind = ItemKind::Image; // Pending; Gone (a layer or an image)
	std::string reason;              // Pending: why it is not ready
	ResyncReason resync = ResyncReason::Overflow; // Resync: why
	std::optional<TreeId> tree;      // Resync; Error when it concerns a tree or an item
	std::string message; // Error: what failed and what happens next
	int code = 0;        // Error: the errno (EIO, ESTALE ...) when there is one
	EventSource source = EventSource::Initial;
	std::size_t imageCount = 0, layerCount = 0, pendingCount = 0; // Ready
	std::string backend; // Ready: "inotify", "fanotify" or "poll"
	// Ready: the trees whose server had not answered the load by its stall deadline;
	// their items follow when it answers.
	std::vector<TreeId> stalled;
};

// An event's typed fields as `watch --json` and the C API spell them, "" where its
// type has none: the kind (Pending, Gone), the reason (Pending: its text; Resync:
// name(resync)), the tree. The reason may point into e.
LW_EXPORT const char *eventKindName(const Event &e);
LW_EXPORT const char *eventReason(const Event &e);
LW_EXPORT const char *eventTreeName(const Event &e);

// An item that is not ready, with its one reason.
struct PendingItem {
	ItemKind kind = ItemKind::Image;
	std::string id;
	std::string reason;

	bool operator==(const PendingItem &) const = default;
};

} // namespace lw

// What the reader tells its host: store changes, pending items and resyncs, in the
// order they happened (DESIGN.md section 6 names them).
#pragma once

#include <layerwatch/store.h>

#include <string>

namespace lw {

enum class EventType {
	LayerAdded,
	LayerRemoved,
	ImageAdded,
	ImageUpdated,
	ImageRemoved,
	Pending, // an item is not ready, or its reason changed
	Resync,  // the view may have been stale; a tree was rescanned
	Error,
	Ready,   // the initial load is done (counts in imageCount, layerCount, pendingCount)
	Stopped, // the watcher has stopped
};

// What produced an event.
enum class EventSource { Initial, Inotify, Fanotify, Rescan };

// "initial", "inotify", "fanotify", "rescan".
LW_EXPORT const char *sourceName(EventSource source);

// "layer_added", "image_updated", "pending", ...: the names of `watch --json`.
LW_EXPORT const char *eventName(EventType type);

struct Event {
	EventType type = EventType::Error;
	std::string id;
	LayerPtr layer; // LayerAdded, LayerRemoved
	ImagePtr image; // ImageAdded, ImageUpdated, ImageRemoved
	std::string kind;   // Pending: "overlay", "layer" or "image"
	std::string reason; // Pending, Resync
	std::string tree;   // Resync
	std::string message; // Error
	EventSource source = EventSource::Initial;
	std::size_t imageCount = 0, layerCount = 0, pendingCount = 0; // Ready
};

// An item that is not ready, with its one reason.
struct PendingItem {
	std::string kind; // "overlay", "layer", "image"
	std::string id;
	std::string reason;

	bool operator==(const PendingItem &) const = default;
};

} // namespace lw

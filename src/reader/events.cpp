// The names of events and their sources (<layerwatch/events.h>): the one place that
// spells them, for `watch --json`, the C API and the logs alike.
#include <layerwatch/events.h>

namespace lw {

const char *sourceName(EventSource source)
{
	switch (source) {
	case EventSource::Initial:
		return "initial";
	case EventSource::Inotify:
		return "inotify";
	case EventSource::Fanotify:
		return "fanotify";
	case EventSource::Rescan:
		return "rescan";
	case EventSource::Stop:
		return "stop";
	}
	return "rescan";
}

const char *eventName(EventType type)
{
	switch (type) {
	case EventType::LayerAdded:
		return "layer_added";
	case EventType::LayerRemoved:
		return "layer_removed";
	case EventType::ImageAdded:
		return "image_added";
	case EventType::ImageUpdated:
		return "image_updated";
	case EventType::ImageRemoved:
		return "image_removed";
	case EventType::Pending:
		return "pending";
	case EventType::Resync:
		return "resync";
	case EventType::Ready:
		return "ready";
	case EventType::Stopped:
		return "stopped";
	case EventType::Error:
		return "error";
	case EventType::Gone:
		return "gone";
	}
	return "error";
}

} // namespace lw

// The names of events and their sources (<layerwatch/events.h>): the one place that
// spells them, for `watch --json`, the C API and the logs alike.
#include <layerwatch/events.h>
#include <layerwatch/vocabulary.h>

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

const char *name(TreeId tree)
{
	switch (tree) {
	case TreeId::Overlay:
		return "overlay/RO";
	case TreeId::Layers:
		return "overlay-layers/RO";
	case TreeId::Images:
		return "overlay-images";
	}
	return "?";
}

const char *name(ItemKind kind)
{
	switch (kind) {
	case ItemKind::Overlay:
		return "overlay";
	case ItemKind::Layer:
		return "layer";
	case ItemKind::Image:
		return "image";
	}
	return "?";
}

const char *name(ResyncReason reason)
{
	switch (reason) {
	case ResyncReason::Overflow:
		return "overflow";
	case ResyncReason::WatchLost:
		return "watch_lost";
	case ResyncReason::Unmount:
		return "unmount";
	case ResyncReason::ShortRead:
		return "short_read";
	case ResyncReason::PollError:
		return "poll_error";
	case ResyncReason::ReadError:
		return "read_error";
	case ResyncReason::Stalled:
		return "stalled";
	case ResyncReason::WatchLimit:
		return "watch_limit";
	case ResyncReason::NoInotify:
		return "no_inotify";
	case ResyncReason::NoFanotify:
		return "no_fanotify";
	}
	return "rescan";
}

const char *eventKindName(const Event &e)
{
	return e.type == EventType::Pending || e.type == EventType::Gone ? name(e.kind) : "";
}

const char *eventReason(const Event &e)
{
	return e.type == EventType::Resync ? name(e.resync) : e.type == EventType::Pending ? e.reason.c_str() : "";
}

const char *eventTreeName(const Event &e)
{
	return e.tree ? name(*e.tree) : "";
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

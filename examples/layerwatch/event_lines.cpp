// Event lines: the JSON contract and the text an operator reads.
#include "event_lines.h"
#include "json_out.h"
#include "text_out.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <ctime>

namespace lwcli {

namespace {

std::uint64_t unixNs()
{
	return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count());
}

} // namespace

std::string jsonLine(const lw::Event &e)
{
	JsonOut out;
	auto &w = out.w();
	w.StartObject();
	out.field("event", lw::eventName(e.type));
	switch (e.type) {
	case lw::EventType::Ready:
		out.key("images");
		w.Uint64(e.imageCount);
		out.key("layers");
		w.Uint64(e.layerCount);
		out.key("pending");
		w.Uint64(e.pendingCount);
		out.field("backend", e.backend);
		out.key("stalled");
		w.StartArray();
		for (lw::TreeId tree : e.stalled)
			w.String(lw::name(tree));
		w.EndArray();
		break;
	case lw::EventType::LayerAdded:
	case lw::EventType::LayerRemoved:
		out.field("id", e.id);
		if (e.layer && !e.layer->parent.empty())
			out.field("parent", e.layer->parent);
		break;
	case lw::EventType::ImageAdded:
	case lw::EventType::ImageUpdated:
	case lw::EventType::ImageRemoved:
		out.field("id", e.id);
		out.strings("names", e.image ? e.image->names : std::vector<std::string>{});
		out.field("top_layer", e.image ? e.image->topLayer : std::string());
		break;
	case lw::EventType::Pending:
		out.field("kind", lw::name(e.kind));
		out.field("id", e.id);
		out.field("reason", e.reason);
		break;
	case lw::EventType::Gone: // only with tellGone, which watch does not ask for
		out.field("kind", lw::name(e.kind));
		out.field("id", e.id);
		break;
	case lw::EventType::Resync:
		out.field("tree", lw::eventTreeName(e));
		out.field("reason", lw::name(e.resync));
		break;
	case lw::EventType::Error:
		out.field("message", e.message);
		if (e.tree)
			out.field("tree", lw::name(*e.tree));
		if (!e.id.empty())
			out.field("id", e.id);
		if (const char *name = e.code ? ::strerrorname_np(e.code) : nullptr)
			out.field("errno", name);
		break;
	case lw::EventType::Stopped:
		break;
	}
	out.key("ts");
	w.Uint64(unixNs());
	out.field("source", lw::sourceName(e.source));
	w.EndObject();
	return out.str();
}

std::string textLine(const lw::Event &e)
{
	auto now = std::chrono::system_clock::now();
	std::time_t t = std::chrono::system_clock::to_time_t(now);
	struct tm tm;
	localtime_r(&t, &tm);
	auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
	std::string what;
	switch (e.type) {
	case lw::EventType::Ready:
		what = fmt::format("{} images, {} layers, {} pending", e.imageCount, e.layerCount, e.pendingCount);
		for (lw::TreeId tree : e.stalled)
			what += fmt::format("; {} stalled (its items follow when it answers)", lw::name(tree));
		break;
	case lw::EventType::LayerAdded:
	case lw::EventType::LayerRemoved:
		what = e.id.substr(0, 12);
		if (e.layer && !e.layer->parent.empty())
			what += " parent " + e.layer->parent.substr(0, 12);
		break;
	case lw::EventType::ImageAdded:
	case lw::EventType::ImageUpdated:
	case lw::EventType::ImageRemoved:
		what = e.id.substr(0, 12);
		if (e.image)
			for (const auto &n : e.image->names)
				what += " " + printable(n);
		break;
	case lw::EventType::Pending:
		what = fmt::format("{} {}: {}", lw::name(e.kind), printable(e.id.substr(0, 12)), printable(e.reason));
		break;
	case lw::EventType::Gone:
		what = fmt::format("{} {}", lw::name(e.kind), printable(e.id.substr(0, 12)));
		break;
	case lw::EventType::Resync:
		what = fmt::format("{}: {}", lw::eventTreeName(e), lw::name(e.resync));
		break;
	case lw::EventType::Error:
		what = printable(e.message);
		break;
	case lw::EventType::Stopped:
		break;
	}
	return fmt::format("{:02}:{:02}:{:02}.{:03} {:<14} {} ({})", tm.tm_hour, tm.tm_min, tm.tm_sec, ms,
			   lw::eventName(e.type), what, lw::sourceName(e.source));
}

int eventPriority(const lw::Event &e)
{
	switch (e.type) {
	case lw::EventType::Error:
		return 3;
	case lw::EventType::Resync:
		return 4;
	case lw::EventType::Pending:
		return 5;
	default:
		return 6;
	}
}

} // namespace lwcli

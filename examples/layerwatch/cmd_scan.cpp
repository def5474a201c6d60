// `layerwatch scan --root R [--json]`: one full validation, read-only, then exit.
#include "commands.h"
#include "json_out.h"
#include "options.h"

#include <layerwatch/scan.h>

#include <fmt/format.h>

#include <cstdio>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch scan (--root R | --config DAEMON_JSON) [--json]\n"
	"\n"
	"Validates every overlay, layer and image below the storage root R once and\n"
	"prints what is ready and what is pending (with its reason). Reads only: it\n"
	"makes no link and changes nothing.\n"
	"\n"
	"  --root R   the storage root (iSulad: /var/lib/isulad/storage)\n"
	"  --config F iSulad's daemon.json: the root is graph + /storage, and\n"
	"             storage-enable-remote-layer must be true\n"
	"  --json     one JSON object: images, layers, pending (and, when something\n"
	"             could not be read, incomplete and errors; the exit code is then 1)\n";

std::string toJson(const lw::ScanReport &report)
{
	JsonOut out;
	auto &w = out.w();
	w.StartObject();
	out.key("images");
	w.StartArray();
	for (const auto &[image, chain] : report.images) {
		w.StartObject();
		out.field("id", image->id);
		out.strings("names", image->names);
		out.field("top_layer", image->topLayer);
		std::vector<std::string> ids;
		for (const auto &layer : chain)
			ids.push_back(layer->id);
		out.strings("layers", ids);
		w.EndObject();
	}
	w.EndArray();
	out.key("layers");
	w.StartArray();
	for (const auto &layer : report.layers) {
		w.StartObject();
		out.field("id", layer->id);
		if (!layer->parent.empty())
			out.field("parent", layer->parent);
		w.EndObject();
	}
	w.EndArray();
	out.key("pending");
	w.StartArray();
	for (const auto &p : report.pending) {
		w.StartObject();
		out.field("kind", p.kind);
		out.field("id", p.id);
		out.field("reason", p.reason);
		w.EndObject();
	}
	w.EndArray();
	// What could not be read: the store above is what was read, not all there is.
	if (!report.errors.empty()) {
		out.key("incomplete");
		w.Bool(true);
		out.strings("errors", report.errors);
	}
	w.EndObject();
	return out.str();
}

std::string joined(const std::vector<std::string> &names)
{
	std::string out;
	for (const auto &n : names)
		out += (out.empty() ? "" : ",") + n;
	return out.empty() ? "-" : out;
}

void printTable(const lw::ScanReport &report)
{
	std::string out = fmt::format("IMAGES ({})\n{:<14}{:<14}{:<7}{}\n", report.images.size(), "ID", "TOP LAYER", "DEPTH", "NAMES");
	for (const auto &[image, chain] : report.images)
		out += fmt::format("{:<14}{:<14}{:<7}{}\n", image->id.substr(0, 12), image->topLayer.substr(0, 12), chain.size(), joined(image->names));
	out += fmt::format("\nLAYERS ({})\n{:<14}{}\n", report.layers.size(), "ID", "PARENT");
	for (const auto &layer : report.layers)
		out += fmt::format("{:<14}{}\n", layer->id.substr(0, 12), layer->parent.empty() ? "-" : layer->parent.substr(0, 12));
	out += fmt::format("\nPENDING ({})\n{:<9}{:<14}{}\n", report.pending.size(), "KIND", "ID", "REASON");
	for (const auto &p : report.pending)
		out += fmt::format("{:<9}{:<14}{}\n", p.kind, p.id.substr(0, 12), p.reason);
	std::fputs(out.c_str(), stdout);
}

} // namespace

int runScan(const Args &args)
{
	RootChoice choice;
	bool json = false;
	for (ArgWalker a{"scan", args}; a.i < args.size(); ++a.i) {
		const auto &arg = args[a.i];
		if (arg == "--help" || arg == "-h") {
			std::fputs(kHelp, stdout);
			return 0;
		} else if (arg == "--json") {
			json = true;
		} else if (int r = a.takeRoot(choice); r >= 0) {
			if (r > 0)
				return r;
		} else {
			return a.unknown();
		}
	}
	std::string root;
	if (int r = resolveRoot("scan", choice, root); r != 0)
		return r;

	auto report = lw::scanStore(root);
	if (!report) {
		std::fprintf(stderr, "layerwatch scan: %s\n", report.error().message.c_str());
		return 1;
	}
	for (const auto &e : report->errors)
		std::fprintf(stderr, "layerwatch scan: %s\n", e.c_str());
	if (json)
		std::printf("%s\n", toJson(*report).c_str());
	else
		printTable(*report);
	// Something could not be read: what was printed is not the whole store.
	return report->errors.empty() ? 0 : 1;
}

} // namespace lwcli

// `layerwatch scan --root R [--json]`: one full validation, read-only, then exit.
#include "commands.h"
#include "json_out.h"
#include "options.h"
#include "text_out.h"

#include <layerwatch/scan.h>

#include <fmt/format.h>

#include <cstdio>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch scan (-r R | -c DAEMON_JSON) [-j]\n"
	"\n"
	"Validates every overlay, layer and image below the storage root R once and\n"
	"prints what is ready and what is pending (with its reason). Reads only: it\n"
	"makes no link and changes nothing.\n"
	"\n"
	LW_ROOT_OPTIONS_HELP
	"  -j, --json            one JSON object: images, layers, pending (and, when\n"
	"                        something could not be read, incomplete and errors)\n"
	"\n"
	"Exit status: 0 the whole store was read; 1 something could not be read (what\n"
	"was read is still printed), or R is no layer store; 2 bad arguments.\n";

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
		out.field("kind", lw::name(p.kind));
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
		out += (out.empty() ? "" : ",") + printable(n);
	return out.empty() ? "-" : out;
}

void printTable(const lw::ScanReport &report)
{
	std::string out;
	if (!report.errors.empty())
		out += fmt::format("INCOMPLETE: {} trees or items could not be read (see above); what follows is what was read\n\n",
				   report.errors.size());
	out += fmt::format("IMAGES ({})\n{:<14}{:<14}{:<7}{}\n", report.images.size(), "ID", "TOP LAYER", "DEPTH", "NAMES");
	for (const auto &[image, chain] : report.images)
		out += fmt::format("{:<14}{:<14}{:<7}{}\n", image->id.substr(0, 12), image->topLayer.substr(0, 12), chain.size(), joined(image->names));
	out += fmt::format("\nLAYERS ({})\n{:<14}{}\n", report.layers.size(), "ID", "PARENT");
	for (const auto &layer : report.layers)
		out += fmt::format("{:<14}{}\n", layer->id.substr(0, 12), layer->parent.empty() ? "-" : layer->parent.substr(0, 12));
	out += fmt::format("\nPENDING ({})\n{:<9}{:<14}{}\n", report.pending.size(), "KIND", "ID", "REASON");
	// A pending id is a folder's name, which may be anything: escaped like the reason.
	for (const auto &p : report.pending)
		out += fmt::format("{:<9}{:<14}{}\n", lw::name(p.kind), printable(p.id.substr(0, 12)), printable(p.reason));
	writeAll(stdout, out);
}

} // namespace

int runScan(const Args &args)
{
	RootChoice choice;
	bool json = false;
	auto options = rootOptions(choice);
	options.push_back(flag("--json", 'j', json));
	if (auto done = parseArgs("scan", args, options, kHelp))
		return *done;
	std::string root;
	if (int r = resolveStore("scan", choice, root); r != 0)
		return r;

	auto report = lw::scanStore(root);
	if (!report) {
		writeAll(stderr, fmt::format("layerwatch scan: {}\n", printable(report.error().message)));
		return 1;
	}
	for (const auto &e : report->errors)
		writeAll(stderr, fmt::format("layerwatch scan: {}: {}\n", printable(root), printable(e)));
	if (json)
		std::printf("%s\n", toJson(*report).c_str());
	else
		printTable(*report);
	// Something could not be read: what was printed is not the whole store.
	return report->errors.empty() ? 0 : 1;
}

} // namespace lwcli

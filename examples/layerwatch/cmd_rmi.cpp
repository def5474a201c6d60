// `layerwatch rmi --root R IMAGE`: the writing side's removal. The image goes first,
// then each of its layers that nothing else needs, top first: links, then data.
#include "commands.h"
#include "options.h"

#include <layerwatch/model.h>
#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <cstdio>
#include <algorithm>
#include <fstream>
#include <map>
#include <set>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch rmi --root R IMAGE\n"
	"\n"
	"Removes an image (by id or name) from the shared trees below R, then each of its\n"
	"layers, top first, that no other image (ready or still arriving) and no other\n"
	"layer stands on. Each item goes links first, then data, its folder renamed away\n"
	"before it is deleted, so readers see it vanish in one step.\n";

// The top layer a (maybe unready) image's images.json names, or "".
std::string topLayerOf(const std::string &root, const std::string &imageId)
{
	std::ifstream in(root + "/overlay-images/" + imageId + "/images.json", std::ios::binary);
	std::string text(lw::kMaxJsonBytes + 1, '\0');
	in.read(text.data(), static_cast<std::streamsize>(text.size()));
	text.resize(static_cast<std::size_t>(in.gcount()));
	auto record = lw::parseImageJson(text);
	return record ? record->layer : std::string();
}

} // namespace

int runRmi(const Args &args)
{
	RootChoice choice;
	std::string target;
	for (ArgWalker a{"rmi", args}; a.i < args.size(); ++a.i) {
		const auto &arg = args[a.i];
		if (arg == "--help" || arg == "-h") {
			std::fputs(kHelp, stdout);
			return 0;
		} else if (arg == "--root") {
			auto v = a.value();
			if (!v)
				return a.missingValue();
			choice.root = *v;
		} else if (!arg.starts_with("-") && target.empty()) {
			target = arg;
		} else {
			return a.unknown();
		}
	}
	if (target.empty())
		return usageError("rmi", "which image? (an id or a name)");
	std::string root;
	if (int r = resolveRoot("rmi", choice, root); r != 0)
		return r;

	auto report = lw::scanStore(root);
	if (!report) {
		std::fprintf(stderr, "layerwatch rmi: %s\n", report.error().message.c_str());
		return 1;
	}
	std::map<std::string, std::string> parentOf;
	for (const auto &layer : report->layers)
		parentOf[layer->id] = layer->parent;
	// Every image, ready or pending, and the layers it stands on.
	std::map<std::string, std::vector<std::string>> chains;
	std::string imageId;
	for (const auto &[image, chain] : report->images) {
		for (const auto &layer : chain)
			chains[image->id].push_back(layer->id);
		bool named = std::find(image->names.begin(), image->names.end(), target) != image->names.end();
		if (image->id == target || named)
			imageId = image->id;
	}
	for (const auto &p : report->pending) {
		if (p.kind != "image")
			continue;
		for (std::string l = topLayerOf(root, p.id); !l.empty() && chains[p.id].size() <= lw::kMaxChainDepth;
		     l = parentOf.count(l) ? parentOf[l] : std::string())
			chains[p.id].push_back(l);
		if (p.id == target)
			imageId = p.id;
	}
	if (imageId.empty()) {
		std::fprintf(stderr, "layerwatch rmi: no image %s in %s\n", target.c_str(), root.c_str());
		return 1;
	}

	std::set<std::string> neededElsewhere;
	for (const auto &[id, chain] : chains)
		if (id != imageId)
			neededElsewhere.insert(chain.begin(), chain.end());
	auto writer = lw::StoreWriter::open(root);
	if (!writer) {
		std::fprintf(stderr, "layerwatch rmi: %s\n", writer.error().message.c_str());
		return 1;
	}
	if (auto r = writer->removeImage(imageId); !r) {
		std::fprintf(stderr, "layerwatch rmi: %s\n", r.error().message.c_str());
		return 1;
	}
	std::printf("removed image %s\n", imageId.c_str());
	// Top first: a layer goes only when no other image needs it and no layer that
	// stays stands on it.
	std::set<std::string> removed;
	for (const auto &layer : chains[imageId]) {
		bool childStays = false;
		for (const auto &[child, parent] : parentOf)
			childStays = childStays || (parent == layer && !removed.count(child));
		if (neededElsewhere.count(layer) || childStays)
			break; // everything below it is needed too
		if (auto r = writer->removeLayer(layer); !r) {
			std::fprintf(stderr, "layerwatch rmi: layer %s: %s\n", layer.c_str(), r.error().message.c_str());
			return 1;
		}
		removed.insert(layer);
		std::printf("removed layer %s\n", layer.c_str());
	}
	return 0;
}

} // namespace lwcli

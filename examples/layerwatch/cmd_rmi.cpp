// `layerwatch rmi`: the writing side's removal. The image goes first, then each of its
// layers that nothing else needs, top first: links, then data.
#include "commands.h"
#include "options.h"
#include "reference.h"
#include "store_graph.h"
#include "text_out.h"

#include <layerwatch/model.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <set>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch rmi (-r R | -c DAEMON_JSON) [-n] IMAGE\n"
	"\n"
	"Removes an image from the shared trees below R, ready or still pending, then\n"
	"each of its layers, top first, that no other image (ready or pending) and no\n"
	"other layer stands on, pending layers too. IMAGE is an id, a unique id prefix of\n"
	"at least 12 characters, or a name (\"app\" means app:latest). Each item goes\n"
	"links first, then data, its folder renamed away before it is deleted, so\n"
	"readers see it vanish in one step.\n"
	"\n"
	LW_ROOT_OPTIONS_HELP
	"  -n, --dry-run         print what would be removed, and remove nothing\n";

constexpr std::size_t kShortIdLength = 12;

// The image target names: by id, unique id prefix, or name. "" and a message when none
// or more than one.
std::string findImage(const StoreGraph &graph, const std::string &target, std::string &message)
{
	if (graph.images.count(target))
		return target;
	std::vector<std::string> found;
	if (target.size() >= kShortIdLength && target.size() < lw::kIdLength)
		for (auto it = graph.images.lower_bound(target); it != graph.images.end() && it->first.starts_with(target); ++it)
			found.push_back(it->first);
	if (auto name = normalizedReference(target); name && found.empty())
		for (const auto &[id, image] : graph.images)
			if (std::find(image.names.begin(), image.names.end(), *name) != image.names.end())
				found.push_back(id);
	if (found.size() == 1)
		return found[0];
	message = found.empty() ? fmt::format("no image {}", printable(target))
				: fmt::format("{} names {} images ({}): give an id", printable(target), found.size(),
					      fmt::join(found, ", "));
	return {};
}

} // namespace

int runRmi(const Args &args)
{
	RootChoice choice;
	bool dryRun = false;
	auto options = rootOptions(choice);
	options.push_back(flag("--dry-run", 'n', dryRun));
	std::vector<std::string> targets;
	if (auto done = parseArgs("rmi", args, options, kHelp, &targets, 1))
		return *done;
	if (targets.empty())
		return usageError("rmi", "which image? (an id or a name)");
	std::string root;
	if (int r = resolveStore("rmi", choice, root); r != 0)
		return r;
	auto graph = readStoreGraph(root);
	if (!graph) {
		std::fprintf(stderr, "layerwatch rmi: %s\n", printable(graph.error().message).c_str());
		return 1;
	}
	std::string message;
	std::string imageId = findImage(*graph, targets[0], message);
	if (imageId.empty()) {
		std::fprintf(stderr, "layerwatch rmi: %s in %s\n", message.c_str(), printable(root).c_str());
		return 1;
	}

	// Top first: a layer goes only when no other image needs it and no layer that
	// stays stands on it; everything below such a layer is needed too.
	std::set<std::string> neededElsewhere;
	for (const auto &[id, image] : graph->images)
		if (id != imageId)
			for (auto &layer : graph->chain(id))
				neededElsewhere.insert(layer);
	std::vector<std::string> layers;
	for (const auto &layer : graph->chain(imageId)) {
		bool childStays = std::any_of(graph->parentOf.begin(), graph->parentOf.end(), [&](const auto &child) {
			return child.second == layer && std::find(layers.begin(), layers.end(), child.first) == layers.end();
		});
		if (neededElsewhere.count(layer) || childStays)
			break;
		layers.push_back(layer);
	}
	if (dryRun) {
		std::printf("would remove image %s\n", imageId.c_str());
		for (const auto &layer : layers)
			std::printf("would remove layer %s\n", layer.c_str());
		return 0;
	}
	auto writer = lw::StoreWriter::open(root);
	if (!writer) {
		std::fprintf(stderr, "layerwatch rmi: %s\n", printable(writer.error().message).c_str());
		return 1;
	}
	if (auto r = writer->removeImage(imageId); !r) {
		std::fprintf(stderr, "layerwatch rmi: %s\n", printable(r.error().message).c_str());
		return 1;
	}
	std::printf("removed image %s\n", imageId.c_str());
	for (const auto &layer : layers) {
		if (auto r = writer->removeLayer(layer); !r) {
			std::fprintf(stderr, "layerwatch rmi: layer %s: %s\n", layer.c_str(), printable(r.error().message).c_str());
			return 1;
		}
		std::printf("removed layer %s\n", layer.c_str());
	}
	return 0;
}

} // namespace lwcli

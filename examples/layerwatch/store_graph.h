// The shared trees as the writing side sees them: every image and layer folder,
// ready or not, with the names, top layer and parent its metadata says. For `rmi`
// and `images`, which must also reach what readers hold as pending.
#pragma once

#include <layerwatch/result.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace lwcli {

struct GraphImage {
	std::vector<std::string> names;
	std::string topLayer; // "" when images.json is missing or invalid
};

struct StoreGraph {
	std::map<std::string, GraphImage> images;     // every overlay-images/<id>
	std::set<std::string> layers;                 // every id in overlay/RO or overlay-layers/RO
	std::map<std::string, std::string> parentOf;  // from each readable layer.json ("" for a base)

	// The layers of an image, top first, as far as the metadata reaches (at most
	// 128, and never round a loop).
	std::vector<std::string> chain(const std::string &imageId) const;
};

// Lists the three trees below root and reads each item's metadata file. Files are
// read only when they are regular files reached without following a link; an item
// whose file is missing or invalid is still listed. An error only when a tree that
// exists cannot be listed.
lw::Result<StoreGraph> readStoreGraph(const std::string &root);

} // namespace lwcli

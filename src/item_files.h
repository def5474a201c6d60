// What one item's own folder says, read through safe_fs: an overlay from
// overlay/RO/<id>, a layer from overlay-layers/RO/<id>, an image from
// overlay-images/<id>. Each result is either usable or has one problem, phrased
// "<file>: <what>" ("manifest: missing", "layer.json: writable"). Dependencies
// between items are the validator's business, not this file's.
#pragma once

#include "identity.h"

#include <layerwatch/model.h>

#include <string>
#include <vector>

namespace lw {

struct OverlayFiles {
	Identity identity;
	std::string problem; // empty: usable
	std::string link;
	std::vector<std::string> lower; // nearest parent first; empty for a base layer
};

struct LayerFiles {
	Identity identity;
	std::string problem;
	LayerRecord record;
};

struct ImageFiles {
	Identity identity;
	std::vector<std::string> probeNames; // what identity covers, for the next probe
	std::string problem;
	ImageRecord record;
};

const std::vector<std::string> &overlayProbeNames();
std::vector<std::string> layerProbeNames(const std::string &id);

OverlayFiles readOverlayFiles(int treeFd, const std::string &id);
LayerFiles readLayerFiles(int treeFd, const std::string &id);
ImageFiles readImageFiles(int treeFd, const std::string &id);

} // namespace lw

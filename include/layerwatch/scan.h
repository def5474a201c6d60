// One full validation of a store, read-only: what `layerwatch scan` prints.
#pragma once

#include <layerwatch/events.h>
#include <layerwatch/export.h>
#include <layerwatch/result.h>
#include <layerwatch/store.h>

#include <string>
#include <vector>

namespace lw {

struct ScannedImage {
	ImagePtr image;
	std::vector<LayerPtr> chain; // top first
};

struct ScanReport {
	std::vector<ScannedImage> images; // by id
	std::vector<LayerPtr> layers;     // by id
	std::vector<PendingItem> pending; // by kind, then id
	std::vector<std::string> errors;  // trees and items that could not be read (kept out, not pending),
	                                  // each ending with its errno's name: "overlay-images: ... (EACCES)"
};

// Validates every overlay, layer and image below root. Makes no link and changes
// nothing. ENOENT or EACCES (with a message naming root) when root cannot be opened.
LW_EXPORT Result<ScanReport> scanStore(const std::string &root);

} // namespace lw

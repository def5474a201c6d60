// Where things live below a storage root R (DESIGN.md section 1). Paths are relative to R.
#pragma once

#include <string>
#include <string_view>

namespace lw::paths {

inline constexpr std::string_view kOverlay = "overlay";          // local: <id> links, RW layers
inline constexpr std::string_view kOverlayRO = "overlay/RO";     // shared overlay data
inline constexpr std::string_view kLinks = "overlay/l";          // local short links
inline constexpr std::string_view kLayers = "overlay-layers";    // local: <id> links, RW metadata
inline constexpr std::string_view kLayersRO = "overlay-layers/RO"; // shared layer metadata
inline constexpr std::string_view kImages = "overlay-images";    // shared images

inline constexpr std::string_view kRO = "RO";
inline constexpr std::string_view kLinkFile = "link";
inline constexpr std::string_view kLowerFile = "lower";
inline constexpr std::string_view kDiffDir = "diff";
inline constexpr std::string_view kEmptyDir = "empty";
inline constexpr std::string_view kLayerJson = "layer.json";
inline constexpr std::string_view kImagesJson = "images.json";
inline constexpr std::string_view kManifest = "manifest";
// Bumped by layerwatch's writer after every change to any shared tree; a reader that
// trusts it skips a rescan while it is unchanged (DESIGN.md section 4).
inline constexpr std::string_view kGenerationFile = "overlay-images/.layerwatch-generation";

inline std::string tarSplitName(std::string_view id)
{
	return std::string(id) + ".tar-split.gz";
}

// The relative targets we write for local links.
inline std::string roTarget(std::string_view id)
{
	return std::string(kRO) + "/" + std::string(id);
}
inline std::string shortLinkTarget(std::string_view id)
{
	return "../" + std::string(id) + "/diff";
}

} // namespace lw::paths

// The store maps: the ready layers and images, as a host daemon reads them.
// Thread-safe: any thread takes a Snapshot (Watcher::snapshot()), an immutable view
// that never changes under it and never sees half of a change; one writer (the
// watcher's loop thread) commits.
#pragma once

#include <layerwatch/export.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

struct LayerInfo {
	std::string id;
	std::string parent; // empty: a base layer
	std::string link;   // overlay short link (overlay/l/<link>)
	std::vector<std::string> names;
	std::string diffDigest;
	std::string compressedDiffDigest;
	std::optional<std::int64_t> diffSize;
	std::string created;

	bool operator==(const LayerInfo &) const = default;
};

struct ImageInfo {
	std::string id;
	std::vector<std::string> names;
	std::string topLayer;
	std::string digest; // the manifest's digest, from images.json
	std::string created;
	std::vector<std::string> bigDataNames;

	bool operator==(const ImageInfo &) const = default;
};

using LayerPtr = std::shared_ptr<const LayerInfo>;
using ImagePtr = std::shared_ptr<const ImageInfo>;

namespace detail {
// What a snapshot holds: the library's own (src/reader/store_state.h).
struct StoreState;
} // namespace detail

// An immutable view of the store at one generation. Cheap to copy; safe to keep
// and read on any thread.
class LW_EXPORT Snapshot {
public:
	Snapshot();
	// The library's own: a view of the store's state.
	LW_HIDDEN explicit Snapshot(std::shared_ptr<const detail::StoreState> state);

	// Bumped by every commit that changed anything.
	std::uint64_t generation() const;
	std::size_t layerCount() const;
	std::size_t imageCount() const;

	LayerPtr layer(std::string_view id) const;
	ImagePtr image(std::string_view id) const;
	// The image that carries this name (the newest, should two claim it).
	ImagePtr imageByName(std::string_view name) const;
	std::vector<ImagePtr> imagesByDigest(std::string_view digest) const;
	std::vector<LayerPtr> layersByDigest(std::string_view digest) const;
	// An image's layers, top first. Empty when the image is unknown.
	std::vector<LayerPtr> chain(std::string_view imageId) const;
	// Sorted by id.
	std::vector<LayerPtr> layers() const;
	std::vector<ImagePtr> images() const;

private:
	std::shared_ptr<const detail::StoreState> state_;
};

} // namespace lw

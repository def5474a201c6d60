// The writing side: what a pulling host does to publish RO layers and images into
// the shared trees, and to remove them (DESIGN.md section 3). Not thread-safe: one
// StoreWriter per thread. Readers never use this.
#pragma once

#include <layerwatch/export.h>
#include <layerwatch/model.h>
#include <layerwatch/result.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

struct LayerSpec {
	std::string id;     // 64 lowercase hex
	std::string parent; // empty: a base layer
	std::vector<std::string> names;
	std::string link;     // the overlay short link; empty: a random one
	std::string tarSplit; // bytes of <id>.tar-split.gz; empty: an empty gzip stream
	std::string diffDigest;           // empty: "sha256:<id>"
	std::string compressedDiffDigest; // empty: left out
	std::optional<std::int64_t> diffSize;
	std::string created; // empty: now
	// Fills diff/ (an fd open on it) before the layer is renamed into place.
	std::function<Result<void>(int diffDirFd)> fillDiff;
};

struct ImageSpec {
	std::string id; // empty: the hex of the config's sha256, as registries do
	std::string topLayer;
	std::vector<std::string> names;
	std::string config; // the image config JSON, stored as big data "sha256:<id>"
	std::vector<std::string> layerDigests; // the manifest's layers, base first
	ManifestKind kind = ManifestKind::DockerSchema2;
	std::string created; // empty: now
	// Extra big-data items (key -> content), stored beside the config.
	std::vector<std::pair<std::string, std::string>> bigData;
};

struct WriterOptions {
	bool durable = true; // fsync files before renaming them into place
	// Bump paths::kGenerationFile after every change (see WatcherOptions::trustGeneration).
	bool bumpGeneration = true;
	// Make the local links of each layer after building it (a pulling host uses its
	// own layers at once). Off for a pure publisher.
	bool makeLinks = true;
};

class LW_EXPORT StoreWriter {
public:
	// Opens the store at root, creating root and its folders if missing.
	static Result<StoreWriter> open(const std::string &root, WriterOptions options = {});
	StoreWriter(StoreWriter &&other) noexcept;
	StoreWriter &operator=(StoreWriter &&other) noexcept;
	StoreWriter(const StoreWriter &) = delete;
	StoreWriter &operator=(const StoreWriter &) = delete;
	~StoreWriter();

	// Builds overlay/RO/<id> (diff/, link, lower or empty/) and then
	// overlay-layers/RO/<id> (<id>.tar-split.gz, then layer.json), each in a
	// temporary folder inside RO/ renamed into place; then the local links. EEXIST if
	// the layer exists (both halves); one half alone, left by a writer killed on the
	// way, is removed and the layer built anew. On failure nothing half-made is left.
	// One writer per store at a time: two at once would take each other's halves.
	Result<void> addLayer(const LayerSpec &spec);

	// The seed's steps for a layer whose RO folders already exist: make or remove
	// its local links.
	Result<void> linkLayer(std::string_view id);
	Result<void> unlinkLayer(std::string_view id);

	// Writes overlay-images/<id>/: images.json, the config and extra big data, and
	// the manifest last (each file through a temporary name). Returns the image id.
	// EEXIST if the image has its manifest; a folder without one (a writer killed on
	// the way) is removed and written anew.
	Result<std::string> publishImage(const ImageSpec &spec);

	// Removes an image: its folder is renamed away first (so the image disappears in
	// one step), then deleted.
	Result<void> removeImage(std::string_view id);

	// Removes a layer: its links first, then overlay-layers/RO/<id>, then
	// overlay/RO/<id>. The caller makes sure no image or child layer needs it.
	Result<void> removeLayer(std::string_view id);
	// The two halves of removeLayer, for the seed's interface.
	Result<void> removeLayerMetadata(std::string_view id);
	Result<void> removeOverlay(std::string_view id);

	// Gives the image exactly these names: its images.json is rewritten through a
	// temporary name and renamed over the old one, as iSulad does on a tag.
	Result<void> setImageNames(std::string_view id, const std::vector<std::string> &names);
	// Takes each of names from every image but keepId that holds it (iSulad moves a
	// tag to the image pulled under it). Returns the ids of the images changed.
	// Images whose images.json cannot be read or parsed are left as they are.
	Result<std::vector<std::string>> takeNames(const std::vector<std::string> &names, std::string_view keepId);

	// What killed writers left: the ".tmp-*" and ".trash-*" entries of the shared
	// trees and of the local link folders (there, only links) in which nothing has
	// changed for olderThanSeconds: the newest change time of anything inside counts,
	// so a writer still filling one keeps it. Paths relative to the root.
	Result<std::vector<std::string>> findLeftovers(std::int64_t olderThanSeconds);
	// Removes what findLeftovers finds. Returns how many.
	Result<std::size_t> removeLeftovers(std::int64_t olderThanSeconds);

	const std::string &root() const { return root_; }

private:
	LW_HIDDEN StoreWriter(std::string root, int rootFd, WriterOptions options);
	LW_HIDDEN Result<std::string> buildOverlay(const LayerSpec &spec);
	LW_HIDDEN Result<void> buildLayerMetadata(const LayerSpec &spec);
	LW_HIDDEN Result<void> removeRO(std::string_view tree, std::string_view id);
	// After every change: readers that trust the generation file look at it alone.
	LW_HIDDEN void touchGeneration();
	friend struct GenerationTouch;

	std::string root_;
	int rootFd_ = -1;
	WriterOptions options_;
};

// A fresh "2006-01-02T15:04:05.000000000Z" timestamp, as iSulad writes.
LW_EXPORT std::string nowRfc3339();

} // namespace lw

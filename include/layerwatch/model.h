// The storage model: ids, file names and typed records of iSulad's on-disk store.
// Pure functions with no I/O; every parser bounds its input and never recurses.
#pragma once

#include <layerwatch/export.h>
#include <layerwatch/result.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

inline constexpr std::size_t kIdLength = 64;
inline constexpr std::size_t kLinkLength = 26;
inline constexpr std::size_t kMaxLowerEntries = 128;
// Ancestors a layer may have; matches the lower cap, since lower lists them all.
inline constexpr std::size_t kMaxChainDepth = 128;
inline constexpr std::size_t kMaxJsonBytes = 1 << 20;
inline constexpr std::size_t kMaxSmallFileBytes = 64 * 1024; // link, lower

// 64 lowercase hex characters. Everything else in a scanned folder is not an item.
LW_EXPORT bool isValidId(std::string_view name);
// 26 characters of [0-9a-z], as overlay's short link names.
LW_EXPORT bool isValidLinkName(std::string_view name);

// The file a big-data key is stored under: the key itself when made only of
// [.0-9a-z] (and not "." or ".."), else "=" + base64(key).
LW_EXPORT std::string bigDataFileName(std::string_view key);
LW_EXPORT std::string base64Encode(std::string_view bytes);

// Content of overlay/RO/<id>/link: the link name (one trailing newline is tolerated).
LW_EXPORT Result<std::string> parseLinkFile(std::string_view content);
// Content of overlay/RO/<id>/lower: "l/<link>:l/<link>..." nearest parent first.
// Returns the link names without the "l/" prefix.
LW_EXPORT Result<std::vector<std::string>> parseLowerFile(std::string_view content);
LW_EXPORT std::string formatLowerFile(const std::vector<std::string> &links);

// overlay-layers/RO/<id>/layer.json (lcr schema storage_layer.json).
struct LayerRecord {
	std::string id;
	std::vector<std::string> names;
	std::string parent; // empty: a base layer
	std::string metadata;
	std::string mountLabel;
	std::string created;
	std::string compressedDiffDigest;
	std::optional<std::int64_t> compressedSize;
	std::string diffDigest;
	std::optional<std::int64_t> diffSize;
	std::optional<std::uint32_t> compression;
	bool incomplete = false; // iSulad's key is "incompelte"; "incomplete" is accepted too
	bool writable = false;

	bool operator==(const LayerRecord &) const = default;
};

// overlay-images/<id>/images.json (lcr schema storage_image.json).
struct ImageRecord {
	std::string id;
	std::string digest;
	std::vector<std::string> names;
	std::string layer; // the top layer
	std::vector<std::string> mappedLayers;
	std::string metadata;
	std::vector<std::string> bigDataNames;
	std::map<std::string, std::int64_t> bigDataSizes;
	std::map<std::string, std::string> bigDataDigests;
	std::string created;
	std::string loaded; // iSulad writes "loaded" and, in older files, "Loaded"
	std::optional<std::uint64_t> size;

	bool operator==(const ImageRecord &) const = default;
};

enum class ManifestKind { DockerSchema2, Oci };

struct Manifest {
	ManifestKind kind = ManifestKind::DockerSchema2;
	std::string mediaType;
	std::string configDigest;
	std::vector<std::string> layerDigests;

	bool operator==(const Manifest &) const = default;
};

// Each parser takes the whole file text (at most kMaxJsonBytes) and names the file
// and the field in its error: `layer.json: field "parent": expected a string`.
LW_EXPORT Result<LayerRecord> parseLayerJson(std::string_view text);
LW_EXPORT Result<ImageRecord> parseImageJson(std::string_view text);
// Docker schema 2 and OCI image manifests; schema 1, manifest lists and indexes are
// reported as unsupported.
LW_EXPORT Result<Manifest> parseManifest(std::string_view text);

// "sha256:" + 64 lowercase hex characters: the digest form of every id and blob.
LW_EXPORT std::string sha256Digest(std::string_view bytes);

LW_EXPORT std::string toJson(const LayerRecord &layer);
LW_EXPORT std::string toJson(const ImageRecord &image);
LW_EXPORT std::string toJson(const Manifest &manifest);

} // namespace lw

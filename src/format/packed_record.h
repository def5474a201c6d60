// The store's records held packed: each layer or image one block of bytes, its hex
// names ("<64 hex>") and digests ("sha256:<64 hex>") as their 32 bytes, its time as
// numbers when they give it back exactly, an image's config name (its own id) as one
// byte, and every other string as it is. A LayerInfo or ImageInfo costs some ten
// heap blocks and 650 to 750 bytes; its packed form one block of 150 to 200.
// Thousands of records are held this way (validator and store share each block); a
// LayerInfo or ImageInfo is made only when a host asks (Snapshot) or an event tells
// of one. The packing is exact: what is
// unpacked equals what was packed, and two equal records pack to the same bytes.
#pragma once

#include "id.h"

#include <layerwatch/store.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lw {

namespace detail {

// One block: its size, then the record's fields in a fixed order (packed_record.cpp).
// Shared by the validator, the store and its snapshots (any thread), its holders
// counted in the block itself (holders.h).
class PackedBlock {
public:
	PackedBlock() = default;
	explicit PackedBlock(const std::string &fields);
	PackedBlock(const PackedBlock &other) noexcept;
	PackedBlock(PackedBlock &&other) noexcept : bytes_(std::exchange(other.bytes_, nullptr)) {}
	PackedBlock &operator=(PackedBlock other) noexcept
	{
		std::swap(bytes_, other.bytes_);
		return *this;
	}
	~PackedBlock();

	explicit operator bool() const { return bytes_ != nullptr; }
	const std::uint8_t *begin() const { return bytes_; } // at its size
	std::size_t size() const;
	bool operator==(const PackedBlock &other) const;

private:
	std::uint8_t *bytes_ = nullptr; // the count sits just before
};

} // namespace detail

// A layer as its layer.json says it: its link is its overlay's (another tree, read
// apart), held beside it by whoever needs it (the store's CommittedLayer), so that
// the block read is the block kept.
class PackedLayer {
public:
	PackedLayer() = default;
	explicit PackedLayer(const LayerInfo &info); // all but its link

	explicit operator bool() const { return bool(block_); }
	LayerPtr unpack(std::string_view link) const;

	// The id as 32 bytes: none when the record's id is no id.
	std::optional<Id> key() const noexcept;
	std::string id() const;
	std::string parent() const;
	std::optional<Id> parentKey() const;
	std::string diffDigest() const;
	std::string compressedDiffDigest() const;

	bool operator==(const PackedLayer &other) const { return block_ == other.block_; }

private:
	detail::PackedBlock block_;
};

class PackedImage {
public:
	PackedImage() = default;
	explicit PackedImage(const ImageInfo &info);

	explicit operator bool() const { return bool(block_); }
	ImagePtr unpack() const;

	std::optional<Id> key() const noexcept;
	std::string id() const;
	std::string topLayer() const;
	std::optional<Id> topLayerKey() const;
	std::string digest() const;
	std::vector<std::string> names() const;
	std::size_t blockSize() const { return block_.size(); } // the bytes it holds
	bool operator==(const PackedImage &other) const { return block_ == other.block_; }

private:
	detail::PackedBlock block_;
};

} // namespace lw

// An item's id held as what it is: the 32 bytes of a sha256, not its 64 hex
// characters. Every table inside keys and refers by Id (32 bytes in place, where a
// std::string of the hex costs 32 more and a heap block of 80); the hex is made
// only at the API's edge. Ids arrive from folder names that anyone with write access
// to the share chooses, so the hash mixes all 32 bytes (as the hex strings' hash did),
// never a prefix that such a writer could make collide in bulk.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lw {

class Id {
public:
	Id() = default;
	// The id of a valid hex name (isValidId), nothing for anything else.
	static std::optional<Id> parse(std::string_view hex);
	// As the hex name in the stores' folders.
	std::string hex() const;
	// The id of a "sha256:<hex>" digest, nothing for any other string; and back.
	static std::optional<Id> parseDigest(std::string_view digest);
	std::string digest() const;
	// Its 32 bytes, as kept in a packed record (packed_record.h).
	static Id fromBytes(const std::uint8_t *bytes)
	{
		Id id;
		std::copy(bytes, bytes + 32, id.bytes_.begin());
		return id;
	}
	const std::uint8_t *data() const { return bytes_.data(); }

	auto operator<=>(const Id &) const = default;
	bool operator==(const Id &) const = default;
	std::size_t hash() const noexcept
	{
		return std::hash<std::string_view>{}(
			std::string_view(reinterpret_cast<const char *>(bytes_.data()), bytes_.size()));
	}

private:
	std::array<std::uint8_t, 32> bytes_{};
};

// noexcept, so that the standard hash tables keep no copy of the hash in each node
// (libstdc++ caches it for a hash that may throw): 8 bytes a node, with every table
// inside keyed by Id.
struct IdHash {
	std::size_t operator()(const Id &id) const noexcept { return id.hash(); }
};

} // namespace lw

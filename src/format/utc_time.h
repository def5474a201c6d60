// A time in RFC 3339, in UTC, as Go (and so iSulad) writes a record's "created"
// ("2026-11-30T21:40:24.18764Z": the fraction's trailing zeros dropped), held as
// numbers: 13 bytes where its text costs some 30, in every record the store keeps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lw {

struct UtcTime {
	std::int64_t seconds = 0; // since the epoch
	std::uint32_t nanos = 0;
	std::uint8_t digits = 0; // of the fraction as written: 0 (none) to 9

	bool operator==(const UtcTime &) const = default;
};

// Only text that formatUtc() gives back byte for byte: anything else (an offset, a
// leap second, a lower-case 't') is nothing, and is kept as text by whoever asked.
std::optional<UtcTime> parseUtc(std::string_view text);
std::string formatUtc(const UtcTime &time);

} // namespace lw

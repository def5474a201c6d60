// Small text helpers shared by error messages and JSON output.
#pragma once

#include <string>
#include <string_view>

namespace lw {

// Untrusted text made safe and short for a one-line message: quoted, at most 80
// characters, control and non-ASCII bytes as \xNN.
std::string quoteForMessage(std::string_view text);

// The first 12 characters of an id, for readable tables (never for JSON).
inline std::string_view shortId(std::string_view id)
{
	return id.substr(0, 12);
}

} // namespace lw

// Text helpers for error messages.
#pragma once

#include <string>
#include <string_view>

namespace lw {

// Untrusted text made safe and short for a one-line message: quoted, at most 80
// characters, control and non-ASCII bytes as \xNN.
std::string quoteForMessage(std::string_view text);

} // namespace lw

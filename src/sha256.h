// SHA-256, for the digests a writer records (big-data-digests, layer digests).
#pragma once

#include <string>
#include <string_view>

namespace lw {

// "sha256:" followed by 64 lowercase hex characters.
std::string sha256Digest(std::string_view bytes);

} // namespace lw

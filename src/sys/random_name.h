// Unpredictable names: temporary folder suffixes and new overlay link names.
#pragma once

#include <string>
#include <string_view>

namespace lw {

// n characters of [0-9a-z] from the kernel's random source.
std::string randomAlnum(std::size_t n);

// ".<purpose>-<stem>-<10 random characters>": never a valid id, so readers skip it.
std::string temporaryName(std::string_view purpose, std::string_view stem);

} // namespace lw

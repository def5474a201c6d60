// Image references as registries and iSulad take them: [domain/]path[:tag][@digest].
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lwcli {

// The reference in the form an image's names hold it ("app" becomes "app:latest",
// as iSulad and docker complete it), or nothing when text is no valid reference
// (docker's distribution/reference grammar: lowercase path components, a tag of at
// most 128 word characters, dots and dashes, a name of at most 255 characters).
std::optional<std::string> normalizedReference(std::string_view text);

} // namespace lwcli

// Opening a storage root: the operator's own path, so it may be a symlink itself.
#pragma once

#include "unique_fd.h"

#include <layerwatch/result.h>

#include <string>

namespace lw {

Result<UniqueFd> openRoot(const std::string &root);

} // namespace lw

// Writing helpers for local links and the writer side: atomic files and symlinks,
// mkdir -p below a root, and removal of a tree without following links.
#pragma once

#include "unique_fd.h"

#include <layerwatch/result.h>

#include <string_view>

namespace lw::fs {

// Writes content to dirfd/name through a temporary name and rename(2), so that a
// reader sees the old file or the whole new one. fsync first when durable.
Result<void> writeFileAtomic(int dirfd, std::string_view name, std::string_view content,
			     bool durable);

// Creates dirfd/name -> target through a temporary name and rename(2). With
// replace false the rename refuses to clobber (EEXIST).
Result<void> symlinkAtomic(int dirfd, std::string_view name, std::string_view target, bool replace);

// mkdir -p of relpath below dirfd (or of an absolute path); an existing directory is
// fine, a symlink is not.
Result<UniqueFd> makeDirs(int dirfd, std::string_view relpath);

// The operator's path to a store, made absolute with its symlinks followed: it is
// trusted configuration (DESIGN.md section 2; /var/lib/isulad is often a link to a
// data volume), resolved once, so that what lies below it may then be refused any
// symlink. The longest part of it that exists is resolved (realpath(3)), the rest
// appended as it is ("." and ".." refused there).
Result<std::string> resolveTrustedPath(const std::string &path);

// Removes dirfd/name and all below it, never following a symlink. Depth is bounded
// (one open fd per level).
Result<void> removeTree(int dirfd, std::string_view name);

// Renames dirfd/name to a ".trash-" name first, so that it disappears in one step,
// then removes that tree. ENOENT when there is no such entry.
Result<void> removeAtomically(int dirfd, std::string_view name);

// The target of the symlink dirfd/name; an error if it is not a symlink.
Result<std::string> readLink(int dirfd, std::string_view name);

} // namespace lw::fs

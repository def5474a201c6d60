// Reading below a root without ever leaving it: no symlink is followed, no ".." is
// taken, no file is opened before it is known to be a regular file, and every read
// has a size cap. Every read of the shared trees goes through here.
#pragma once

#include "unique_fd.h"

#include <layerwatch/result.h>

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lw::fs {

// Opens relpath ("a/b/c", or "." for dirfd itself) below dirfd. openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else a walk of
// openat(O_NOFOLLOW) one component at a time. A symlink anywhere gives ELOOP or ENOTDIR.
Result<UniqueFd> openBeneath(int dirfd, std::string_view relpath, int flags);

// A directory below dirfd, opened for listing and for *at() calls on its entries.
Result<UniqueFd> openDir(int dirfd, std::string_view relpath);

// Reads the regular file `name` (one component) in dirfd, at most cap bytes. The
// error message starts with the name: "manifest: missing", "lower: not a regular
// file", "images.json: larger than 1048576 bytes". st, when given, receives its stat.
Result<std::string> readRegularFile(int dirfd, std::string_view name, std::size_t cap,
				    struct stat *st = nullptr);
// The same, when the caller has just looked (lstat) at the entry itself: looked says
// what it saw (st_mode 0: absent). The file must still be the one looked at. name may
// here be a relative path of plain components ("<id>/manifest").
// Both refuse a file with more than one name (EMLINK): a hard link can carry a file
// from outside the store into it.
Result<std::string> readRegularFile(int dirfd, std::string_view name, std::size_t cap,
				    const struct stat &looked, struct stat *st = nullptr);

struct DirEntry {
	std::string name;
	unsigned char type; // DT_DIR, DT_LNK, ... or DT_UNKNOWN (some network filesystems)
	std::uint64_t ino = 0; // the entry's inode number as the listing gives it
};

// Every entry of an open directory but "." and "..".
Result<std::vector<DirEntry>> listDir(int dirfd);
// The same, each handed to each() as it is read, its name a view into the read's
// buffer: a tree of ten thousand items listed without ten thousand names made.
struct DirEntryView {
	std::string_view name;
	unsigned char type;
	std::uint64_t ino;
};
Result<void> forEachEntry(int dirfd, const std::function<void(const DirEntryView &)> &each);

// lstat of one entry of dirfd; -errno on failure.
int statEntry(int dirfd, std::string_view name, struct stat *st);

// Errors are not absence (DESIGN.md section 4). Only these two say a path is gone:
bool isAbsence(int err);
// What the files themselves say (missing, a symlink, too large, does not parse): a
// reason for pending. Any other errno (EIO, ESTALE, EACCES, EMFILE ...) is trouble on
// the way to the files, which keeps the last known state and is tried again.
bool isContentProblem(int err);

// "missing", "permission denied", ... : the problem an errno means, for a reason.
std::string describeErrno(int err);

} // namespace lw::fs

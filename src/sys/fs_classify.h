// Local or remote: inotify and fanotify never see another host's writes on a
// network filesystem, so a remote tree must also be rescanned (DESIGN.md section 4).
#pragma once

#include <string>
#include <string_view>

namespace lw {

struct FsClass {
	bool remote = false;
	std::string type; // "ext4", "nfs4", "fuse.bindfs", ... or "0x6969" from statfs alone
	long magic = 0;   // statfs f_type
	int error = 0;    // statfs's errno when it failed (ENOENT: no such path yet)
};

// True for network and FUSE filesystem types as /proc/self/mountinfo names them.
bool isRemoteFsType(std::string_view type);
// True for statfs magic numbers of network and FUSE filesystems.
bool isRemoteFsMagic(long magic);

// The filesystem type of the mount that holds path, from mountinfo text (the
// longest mount point that is a prefix of path; the last one mounted wins ties).
std::string fsTypeFromMountinfo(std::string_view mountinfo, std::string_view path);

// statfs(path) and /proc/self/mountinfo together; remote if either says so.
FsClass classifyPath(const std::string &path);

} // namespace lw

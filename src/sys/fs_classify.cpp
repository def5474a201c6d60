// Local or remote, from statfs and /proc/self/mountinfo.
#include "fs_classify.h"

#include <fmt/format.h>

#include <sys/vfs.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace lw {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountinfo(std::string_view s)
{
	std::string out;
	for (std::size_t i = 0; i < s.size(); ++i) {
		if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
			out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			out += s[i];
		}
	}
	return out;
}

bool isUnder(std::string_view path, std::string_view mountPoint)
{
	if (mountPoint == "/")
		return true;
	return path.starts_with(mountPoint) && (path.size() == mountPoint.size() || path[mountPoint.size()] == '/');
}

} // namespace

bool isRemoteFsType(std::string_view type)
{
	for (std::string_view remote : {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "lustre",
					"afs", "gpfs", "beegfs", "ocfs2", "gfs2", "fuse", "fuseblk"})
		if (type == remote)
			return true;
	return type.starts_with("fuse.");
}

bool isRemoteFsMagic(long magic)
{
	switch (static_cast<unsigned long>(magic) & 0xffffffffUL) {
	case 0x6969:     // NFS
	case 0xFF534D42: // CIFS
	case 0xFE534D42: // SMB2
	case 0x517B:     // SMB
	case 0x00C36400: // Ceph
	case 0x65735546: // FUSE (glusterfs, sshfs, bindfs ...)
	case 0x01021997: // 9p
	case 0x0BD00BD0: // Lustre
	case 0x5346414F: // AFS
		return true;
	default:
		return false;
	}
}

std::string fsTypeFromMountinfo(std::string_view mountinfo, std::string_view path)
{
	std::string best;
	std::size_t bestLength = 0;
	bool found = false;
	std::istringstream in{std::string(mountinfo)};
	for (std::string line; std::getline(in, line);) {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		std::istringstream fields(line);
		std::vector<std::string> words;
		for (std::string w; fields >> w;)
			words.push_back(w);
		if (words.size() < 7)
			continue;
		std::size_t dash = 6;
		while (dash < words.size() && words[dash] != "-")
			++dash;
		if (dash + 1 >= words.size())
			continue;
		std::string mountPoint = unescapeMountinfo(words[4]);
		if (!isUnder(path, mountPoint))
			continue;
		if (!found || mountPoint.size() >= bestLength) {
			best = words[dash + 1];
			bestLength = mountPoint.size();
			found = true;
		}
	}
	return best;
}

FsClass classifyPath(const std::string &path)
{
	FsClass result;
	struct statfs sf;
	if (::statfs(path.c_str(), &sf) == 0) {
		result.magic = static_cast<long>(sf.f_type);
		result.remote = isRemoteFsMagic(result.magic);
		result.type = fmt::format("{:#x}", static_cast<unsigned long>(sf.f_type) & 0xffffffffUL);
	} else {
		result.error = errno;
		return result; // nothing there to find in mountinfo either
	}
	char real[PATH_MAX];
	if (::realpath(path.c_str(), real)) {
		std::ifstream in("/proc/self/mountinfo");
		std::stringstream text;
		text << in.rdbuf();
		std::string type = fsTypeFromMountinfo(text.str(), real);
		if (!type.empty()) {
			result.type = type;
			result.remote = result.remote || isRemoteFsType(type);
		}
	}
	return result;
}

} // namespace lw

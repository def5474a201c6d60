// Identity of an item from stats alone.
#include "identity.h"

#include "sys.h"

#include <cerrno>

#include <fcntl.h>
#include <sys/sysmacros.h>

namespace lw {

FileId statId(int dirFd, const std::string &path, int extraFlags)
{
	struct statx sx;
	FileId f;
	if (int r = sys::statx(dirFd, path.c_str(), AT_SYMLINK_NOFOLLOW | extraFlags, STATX_BASIC_STATS | STATX_BTIME, &sx);
	    r < 0) {
		if (r != -ENOENT && r != -ENOTDIR)
			f.error = -r;
		return f;
	}
	auto ns = [](const struct statx_timestamp &t) { return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; };
	f.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor); // as stat(2)'s st_dev
	f.ino = sx.stx_ino;
	f.mtimeNs = ns(sx.stx_mtime);
	f.ctimeNs = ns(sx.stx_ctime);
	f.size = static_cast<std::int64_t>(sx.stx_size);
	f.mode = sx.stx_mode;
	f.btimeNs = (sx.stx_mask & STATX_BTIME) ? ns(sx.stx_btime) : 0;
	return f;
}

struct stat asLooked(const FileId &file)
{
	struct stat st = {};
	st.st_dev = static_cast<dev_t>(file.dev);
	st.st_ino = static_cast<ino_t>(file.ino);
	st.st_mode = static_cast<mode_t>(file.mode);
	st.st_size = static_cast<off_t>(file.size);
	return st;
}

Identity probeIdentity(int treeFd, const std::string &id, const std::vector<std::string> &names, int folderFlags)
{
	Identity identity;
	identity.folder = statId(treeFd, id, folderFlags);
	// Only below a real folder: a symlinked one is never read, so its files do not count.
	bool realFolder = S_ISDIR(identity.folder.mode);
	identity.files.resize(names.size());
	std::string path;
	for (std::size_t i = 0; i < names.size(); ++i) {
		path.assign(id).append("/").append(names[i]);
		if (realFolder)
			identity.files[i] = statId(treeFd, path);
	}
	return identity;
}

} // namespace lw

// Reading below a root without ever leaving it.
#include "safe_fs.h"

#include "sys.h"

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>

#include <cstring>

namespace lw::fs {

namespace {

bool isPlainComponent(std::string_view c)
{
	return !c.empty() && c != "." && c != ".." && c.find('\0') == std::string_view::npos;
}

// The fallback for kernels without openat2: one component at a time, O_NOFOLLOW.
int walkBeneath(int dirfd, std::string_view relpath, int flags)
{
	UniqueFd current;
	int at = dirfd;
	std::size_t start = 0;
	for (;;) {
		std::size_t slash = relpath.find('/', start);
		bool last = slash == std::string_view::npos;
		std::string component(relpath.substr(start, last ? std::string_view::npos : slash - start));
		if (!isPlainComponent(component))
			return -EINVAL;
		int fd = last ? sys::openAt(at, component.c_str(), flags | O_NOFOLLOW)
			      : sys::openAt(at, component.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW);
		if (fd < 0)
			return fd;
		if (last)
			return fd;
		current.reset(fd);
		at = current.get();
		start = slash + 1;
	}
}

} // namespace

std::string describeErrno(int err)
{
	switch (err) {
	case ENOENT:
		return "missing";
	case ELOOP:
		return "is a symlink";
	case ENOTDIR:
		return "not a directory (or a symlink)";
	case EACCES:
	case EPERM:
		return "permission denied";
	case EFBIG:
		return "too large";
	default:
		return std::strerror(err);
	}
}

Result<UniqueFd> openBeneath(int dirfd, std::string_view relpath, int flags)
{
	if (relpath.empty() || relpath.front() == '/')
		return makeError(EINVAL, fmt::format("{}: not a relative path", relpath));
	if (relpath == ".")
		relpath = "";
	int fd;
	if (relpath.empty()) {
		fd = sys::openAt(dirfd, ".", flags);
	} else {
		std::string path(relpath);
		fd = sys::openBeneath(dirfd, path.c_str(), flags);
		// ENOSYS: an old kernel; EPERM: a seccomp filter that does not know openat2.
		if (fd == -ENOSYS || fd == -EPERM)
			fd = walkBeneath(dirfd, relpath, flags);
	}
	if (fd < 0)
		return makeError(-fd, fmt::format("{}: {}", relpath, describeErrno(-fd)));
	UniqueFd owned(fd);
	if (flags & O_PATH) {
		// O_PATH | O_NOFOLLOW opens a trailing symlink itself instead of failing.
		struct stat st;
		if (sys::fstat(owned.get(), &st) == 0 && S_ISLNK(st.st_mode))
			return makeError(ELOOP, fmt::format("{}: is a symlink", relpath));
	}
	return owned;
}

Result<UniqueFd> openDir(int dirfd, std::string_view relpath)
{
	return openBeneath(dirfd, relpath, O_RDONLY | O_DIRECTORY);
}

int statEntry(int dirfd, std::string_view name, struct stat *st)
{
	std::string n(name);
	return sys::fstatAt(dirfd, n.c_str(), st, AT_SYMLINK_NOFOLLOW);
}

Result<std::string> readRegularFile(int dirfd, std::string_view name, std::size_t cap, struct stat *stOut)
{
	// Look before opening: opening a FIFO blocks and opening a device has effects.
	std::string n(name);
	if (!isPlainComponent(n) || n.find('/') != std::string::npos)
		return makeError(EINVAL, fmt::format("{}: not a plain file name", name));
	struct stat looked = {};
	if (int r = sys::fstatAt(dirfd, n.c_str(), &looked, AT_SYMLINK_NOFOLLOW); r < 0 && r != -ENOENT)
		return makeError(-r, fmt::format("{}: {}", name, describeErrno(-r)));
	return readRegularFile(dirfd, name, cap, looked, stOut);
}

Result<std::string> readRegularFile(int dirfd, std::string_view name, std::size_t cap, const struct stat &before,
				    struct stat *stOut)
{
	// A path of plain components: an item's file is read straight from its tree, which
	// spares a network share the opening of the item's folder. A folder on the way
	// swapped for a symlink since the look is caught below: the file opened must be the
	// very inode looked at.
	std::string n(name);
	for (std::size_t start = 0;;) {
		std::size_t slash = n.find('/', start);
		if (!isPlainComponent(std::string_view(n).substr(start, slash - start)))
			return makeError(EINVAL, fmt::format("{}: not a plain file name", name));
		if (slash == std::string::npos)
			break;
		start = slash + 1;
	}
	// Errors name the file itself ("manifest: missing"): the caller knows the item.
	std::string_view shown = name.substr(name.rfind('/') + 1);
	auto fail = [&](int err, std::string_view problem) {
		return makeError(err, fmt::format("{}: {}", shown, problem));
	};
	if (before.st_mode == 0)
		return fail(ENOENT, describeErrno(ENOENT));
	if (!S_ISREG(before.st_mode))
		return fail(EINVAL, S_ISLNK(before.st_mode) ? "is a symlink" : "not a regular file");
	if (static_cast<std::size_t>(before.st_size) > cap)
		return fail(EFBIG, fmt::format("larger than {} bytes", cap));

	int fd = sys::openAt(dirfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fail(-fd, describeErrno(-fd));
	UniqueFd file(fd);
	struct stat st;
	if (int r = sys::fstat(file.get(), &st); r < 0)
		return fail(-r, describeErrno(-r));
	// Swapped between the look and the open: refuse rather than guess.
	if (!S_ISREG(st.st_mode) || st.st_ino != before.st_ino || st.st_dev != before.st_dev)
		return fail(EAGAIN, "replaced while being read");
	// A second name may be a hard link made from outside the store (any file the
	// writer of the share could reach): metadata has exactly one name.
	if (st.st_nlink > 1)
		return fail(EMLINK, fmt::format("has {} names (a hard link), refused", st.st_nlink));

	std::string data;
	data.resize(std::min<std::size_t>(static_cast<std::size_t>(st.st_size), cap) + 1);
	std::size_t used = 0;
	for (;;) {
		if (used == data.size()) {
			if (used > cap)
				return fail(EFBIG, fmt::format("larger than {} bytes", cap));
			data.resize(std::min(data.size() * 2, cap + 1));
		}
		std::size_t want = data.size() - used;
		ssize_t n = sys::read(file.get(), data.data() + used, want);
		if (n < 0)
			return fail(static_cast<int>(-n), describeErrno(static_cast<int>(-n)));
		if (n == 0)
			break;
		used += static_cast<std::size_t>(n);
		// All that fstat promised, and less than asked: the end, without one more read
		// to hear it (a short read before that point just reads on). A file that grew
		// meanwhile has a new identity and is read again.
		if (static_cast<std::size_t>(n) < want && used >= static_cast<std::size_t>(st.st_size))
			break;
	}
	if (used > cap)
		return fail(EFBIG, fmt::format("larger than {} bytes", cap));
	data.resize(used);
	if (stOut)
		*stOut = st;
	return data;
}

Result<void> forEachEntry(int dirfd, const std::function<void(const DirEntryView &)> &each)
{
	// A fresh fd of our own, so the offset of dirfd is never moved.
	int fd = sys::openAt(dirfd, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return makeError(-fd, fmt::format("list: {}", describeErrno(-fd)));
	UniqueFd dir(fd);
	// linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
	constexpr std::size_t kHeader = 19;
	alignas(8) char buffer[32768];
	for (;;) {
		ssize_t n = sys::getdents64(dir.get(), buffer, sizeof buffer);
		if (n < 0)
			return makeError(static_cast<int>(-n), fmt::format("list: {}", describeErrno(static_cast<int>(-n))));
		if (n == 0)
			return {};
		for (std::size_t at = 0; at + kHeader <= static_cast<std::size_t>(n);) {
			unsigned short reclen;
			std::memcpy(&reclen, buffer + at + 16, sizeof reclen);
			if (reclen < kHeader || at + reclen > static_cast<std::size_t>(n))
				return makeError(EIO, "list: corrupt directory record");
			unsigned char type = static_cast<unsigned char>(buffer[at + 18]);
			std::string_view name(buffer + at + kHeader, ::strnlen(buffer + at + kHeader, reclen - kHeader));
			std::uint64_t ino;
			std::memcpy(&ino, buffer + at, sizeof ino);
			if (name != "." && name != "..")
				each({name, type, ino});
			at += reclen;
		}
	}
}

Result<std::vector<DirEntry>> listDir(int dirfd)
{
	std::vector<DirEntry> entries;
	auto listed = forEachEntry(dirfd, [&](const DirEntryView &e) { entries.push_back({std::string(e.name), e.type, e.ino}); });
	if (!listed)
		return listed.error();
	return entries;
}

bool isAbsence(int err)
{
	return err == ENOENT || err == ENOTDIR;
}

bool isContentProblem(int err)
{
	switch (err) {
	case ENOENT:  // missing
	case ENOTDIR: // not a folder, or a symlink on the way
	case ELOOP:   // a symlink where a file or folder must be
	case EXDEV:   // a path that would leave the root
	case EFBIG:   // over a size cap
	case EINVAL:  // does not parse, or not a regular file
	case ENOTSUP: // a manifest schema we do not take
	case EMLINK:  // a file with more than one name
		return true;
	default:
		return false;
	}
}

} // namespace lw::fs

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
	std::string n(name);
	if (!isPlainComponent(n) || n.find('/') != std::string::npos)
		return makeError(EINVAL, fmt::format("{}: not a plain file name", name));
	auto fail = [&](int err, std::string_view problem) {
		return makeError(err, fmt::format("{}: {}", name, problem));
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

Result<std::vector<DirEntry>> listDir(int dirfd)
{
	// fdopendir takes ownership, so list through a fresh fd of our own.
	int fd = sys::openAt(dirfd, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return makeError(-fd, fmt::format("list: {}", describeErrno(-fd)));
	DIR *dir = ::fdopendir(fd);
	if (!dir) {
		int err = errno;
		::close(fd);
		return makeError(err, fmt::format("list: {}", describeErrno(err)));
	}
	std::vector<DirEntry> entries;
	errno = 0;
	while (struct dirent *e = ::readdir(dir)) {
		std::string_view name(e->d_name);
		if (name != "." && name != "..")
			entries.push_back({std::string(name), e->d_type});
		errno = 0;
	}
	int err = errno;
	::closedir(dir);
	if (err)
		return makeError(err, fmt::format("list: {}", describeErrno(err)));
	return entries;
}

} // namespace lw::fs

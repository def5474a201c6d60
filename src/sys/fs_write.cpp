// Writing helpers: atomic files and symlinks, mkdir -p, and tree removal.
#include "fs_write.h"

#include "random_name.h"
#include "safe_fs.h"
#include "sys.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace lw::fs {

namespace {

constexpr int kMaxRemoveDepth = 256;

Error errnoError(int err, std::string_view what)
{
	return makeError(err, fmt::format("{}: {}", what, describeErrno(err)));
}

Result<void> removeTreeAt(int dirfd, const std::string &name, int depth)
{
	struct stat st;
	if (int r = sys::fstatAt(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW); r < 0)
		return r == -ENOENT ? Result<void>() : Result<void>(errnoError(-r, name));
	if (S_ISDIR(st.st_mode)) {
		if (depth >= kMaxRemoveDepth)
			return makeError(ELOOP, fmt::format("{}: deeper than {} levels", name, kMaxRemoveDepth));
		int fd = sys::openAt(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (fd < 0)
			return errnoError(-fd, name);
		UniqueFd dir(fd);
		auto entries = listDir(dir.get());
		if (!entries)
			return entries.error();
		for (const auto &e : *entries)
			if (auto r = removeTreeAt(dir.get(), e.name, depth + 1); !r)
				return r;
		if (int r = sys::unlinkAt(dirfd, name.c_str(), AT_REMOVEDIR); r < 0 && r != -ENOENT)
			return errnoError(-r, name);
		return {};
	}
	if (int r = sys::unlinkAt(dirfd, name.c_str(), 0); r < 0 && r != -ENOENT)
		return errnoError(-r, name);
	return {};
}

} // namespace

Result<void> writeFileAtomic(int dirfd, std::string_view name, std::string_view content, bool durable)
{
	std::string tmp = temporaryName("tmp", name);
	int fd = sys::openAt(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errnoError(-fd, name);
	UniqueFd file(fd);
	auto abandon = [&](int err) {
		file.reset();
		sys::unlinkAt(dirfd, tmp.c_str(), 0);
		return errnoError(err, name);
	};
	if (ssize_t n = sys::writeAll(file.get(), content.data(), content.size()); n < 0)
		return abandon(static_cast<int>(-n));
	if (durable)
		if (int r = sys::fsync(file.get()); r < 0)
			return abandon(-r);
	file.reset();
	std::string final(name);
	if (int r = sys::renameAt(dirfd, tmp.c_str(), dirfd, final.c_str()); r < 0)
		return abandon(-r);
	return {};
}

Result<void> symlinkAtomic(int dirfd, std::string_view name, std::string_view target, bool replace)
{
	std::string tmp = temporaryName("tmp", name);
	std::string t(target), n(name);
	if (int r = sys::symlinkAt(t.c_str(), dirfd, tmp.c_str()); r < 0)
		return errnoError(-r, name);
	if (int r = sys::renameAt(dirfd, tmp.c_str(), dirfd, n.c_str(), replace ? 0 : RENAME_NOREPLACE); r < 0) {
		sys::unlinkAt(dirfd, tmp.c_str(), 0);
		return errnoError(-r, name);
	}
	return {};
}

Result<UniqueFd> makeDirs(int dirfd, std::string_view relpath)
{
	// An absolute path starts from "/", whatever dirfd is.
	int fd = sys::openAt(dirfd, relpath.starts_with('/') ? "/" : ".", O_PATH | O_DIRECTORY);
	if (fd < 0)
		return errnoError(-fd, ".");
	UniqueFd current(fd);
	std::size_t start = 0;
	while (start < relpath.size()) {
		std::size_t slash = relpath.find('/', start);
		if (slash == std::string_view::npos)
			slash = relpath.size();
		std::string component(relpath.substr(start, slash - start));
		start = slash + 1;
		if (component.empty())
			continue;
		if (component == "." || component == "..")
			return makeError(EINVAL, fmt::format("{}: not a plain path", relpath));
		int r = sys::mkdirAt(current.get(), component.c_str(), 0755);
		if (r < 0 && r != -EEXIST)
			return errnoError(-r, relpath.substr(0, slash));
		int next = sys::openAt(current.get(), component.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW);
		if (next < 0)
			return errnoError(-next, relpath.substr(0, slash));
		current.reset(next);
	}
	// Hand back a real fd (O_PATH cannot list or write); reopening "." follows nothing.
	int dir = sys::openAt(current.get(), ".", O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		return errnoError(-dir, relpath);
	return UniqueFd(dir);
}

Result<void> removeTree(int dirfd, std::string_view name)
{
	return removeTreeAt(dirfd, std::string(name), 0);
}

Result<void> removeAtomically(int dirfd, std::string_view name)
{
	std::string from(name), trash = temporaryName("trash", name);
	if (int r = sys::renameAt(dirfd, from.c_str(), dirfd, trash.c_str()); r < 0)
		return errnoError(-r, name);
	return removeTreeAt(dirfd, trash, 0);
}

Result<std::string> readLink(int dirfd, std::string_view name)
{
	std::string n(name);
	char buf[4096];
	ssize_t len = sys::readlinkAt(dirfd, n.c_str(), buf, sizeof(buf));
	if (len < 0)
		return errnoError(static_cast<int>(-len), name);
	if (static_cast<std::size_t>(len) == sizeof(buf))
		return makeError(ENAMETOOLONG, fmt::format("{}: link target too long", name));
	return std::string(buf, static_cast<std::size_t>(len));
}

Result<std::string> resolveTrustedPath(const std::string &path)
{
	if (path.empty())
		return makeError(EINVAL, "empty path");
	std::string existing = path;
	std::vector<std::string> rest; // the components that do not exist yet, last first
	for (;;) {
		char resolved[PATH_MAX];
		if (::realpath(existing.c_str(), resolved)) {
			std::string out = resolved;
			for (auto it = rest.rbegin(); it != rest.rend(); ++it)
				out += (out == "/" ? "" : "/") + *it;
			return out;
		}
		int err = errno;
		if (err != ENOENT || existing == "." || existing == "/")
			return errnoError(err, path);
		// Split off the last component; a relative path ends at the working folder.
		std::size_t end = existing.find_last_not_of('/');
		std::size_t slash = existing.rfind('/', end);
		std::size_t from = slash == std::string::npos ? 0 : slash + 1;
		std::string last = existing.substr(from, end + 1 - from);
		if (last == "." || last == "..")
			return makeError(EINVAL, fmt::format("{}: not a plain path", path));
		rest.push_back(std::move(last));
		existing = slash == std::string::npos ? "." : slash == 0 ? "/" : existing.substr(0, slash);
	}
}

} // namespace lw::fs

// The syscall layer: real syscalls behind a replaceable table, EINTR retried.
#include "sys.h"

#include <atomic>

#include <lw_config.h>

#include <sys/syscall.h>
#include <unistd.h>

#if LW_HAVE_FANOTIFY
#include <sys/fanotify.h>
#endif

#include <cerrno>
#include <cstdio>

#if LW_HAVE_OPENAT2_HEADER
#include <linux/openat2.h>
#endif

namespace lw::sys {

namespace {

int realOpenat(int dirfd, const char *path, int flags, mode_t mode)
{
	return ::openat(dirfd, path, flags, mode);
}

// ThreadSanitizer cannot see an fd that a raw syscall(2) makes, and then takes a
// later close of the same number for a race with whoever used it before: under it,
// the per-component openat walk (which it sees) stands in for openat2.
#if defined(__SANITIZE_THREAD__)
#define LW_USE_OPENAT2 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LW_USE_OPENAT2 0
#endif
#endif
#ifndef LW_USE_OPENAT2
#define LW_USE_OPENAT2 1
#endif

int realOpenat2Beneath(int dirfd, const char *path, int flags, mode_t mode)
{
#if LW_USE_OPENAT2 && LW_HAVE_OPENAT2_HEADER && defined(SYS_openat2)
	struct open_how how = {};
	how.flags = static_cast<unsigned long long>(flags);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof(how)));
#else
	(void)dirfd, (void)path, (void)flags, (void)mode;
	errno = ENOSYS;
	return -1;
#endif
}

int realRenameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  unsigned flags)
{
	return ::renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

ssize_t realGetdents64(int fd, void *buf, size_t count)
{
	return ::syscall(SYS_getdents64, fd, buf, count);
}

int realFanotifyInit(unsigned flags, unsigned eventFlags)
{
#if LW_HAVE_FANOTIFY
	return ::fanotify_init(flags, eventFlags);
#else
	(void)flags, (void)eventFlags;
	errno = ENOSYS;
	return -1;
#endif
}

int realFanotifyMark(int fd, unsigned flags, unsigned long long mask, int dirfd, const char *path)
{
#if LW_HAVE_FANOTIFY
	return ::fanotify_mark(fd, flags, mask, dirfd, path);
#else
	(void)fd, (void)flags, (void)mask, (void)dirfd, (void)path;
	errno = ENOSYS;
	return -1;
#endif
}

thread_local std::atomic<std::uint64_t> *tCallTally = nullptr;

template <class F>
auto retry(F &&call) -> decltype(call())
{
	if (tCallTally)
		tCallTally->fetch_add(1, std::memory_order_relaxed);
	for (;;) {
		auto r = call();
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
	}
}

} // namespace

ScopedCallTally::ScopedCallTally(std::atomic<std::uint64_t> *tally) : previous_(tCallTally)
{
	tCallTally = tally;
}

ScopedCallTally::~ScopedCallTally()
{
	tCallTally = previous_;
}

Ops &ops()
{
	static Ops table = {
		realOpenat, realOpenat2Beneath, ::read, ::write, ::fstat, ::fstatat,
		::readlinkat, ::symlinkat, realRenameat2, ::unlinkat, ::mkdirat, ::fsync, ::statx,
		realGetdents64, realFanotifyInit, realFanotifyMark, ::name_to_handle_at, ::statfs,
	};
	return table;
}

int openAt(int dirfd, const char *path, int flags, mode_t mode)
{
	return retry([&] { return ops().openat(dirfd, path, flags | O_CLOEXEC, mode); });
}

int openBeneath(int dirfd, const char *path, int flags, mode_t mode)
{
	return retry([&] { return ops().openat2Beneath(dirfd, path, flags | O_CLOEXEC, mode); });
}

ssize_t read(int fd, void *buf, size_t count)
{
	return retry([&] { return ops().read(fd, buf, count); });
}

ssize_t writeAll(int fd, const void *buf, size_t count)
{
	const char *p = static_cast<const char *>(buf);
	size_t done = 0;
	while (done < count) {
		ssize_t n = retry([&] { return ops().write(fd, p + done, count - done); });
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		done += static_cast<size_t>(n);
	}
	return static_cast<ssize_t>(done);
}

int fstat(int fd, struct stat *st)
{
	return retry([&] { return ops().fstat(fd, st); });
}

int fstatAt(int dirfd, const char *path, struct stat *st, int flags)
{
	return retry([&] { return ops().fstatat(dirfd, path, st, flags); });
}

ssize_t readlinkAt(int dirfd, const char *path, char *buf, size_t size)
{
	return retry([&] { return ops().readlinkat(dirfd, path, buf, size); });
}

int symlinkAt(const char *target, int dirfd, const char *path)
{
	return retry([&] { return ops().symlinkat(target, dirfd, path); });
}

int renameAt(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned flags)
{
	return retry([&] { return ops().renameat2(olddirfd, oldpath, newdirfd, newpath, flags); });
}

int unlinkAt(int dirfd, const char *path, int flags)
{
	return retry([&] { return ops().unlinkat(dirfd, path, flags); });
}

int mkdirAt(int dirfd, const char *path, mode_t mode)
{
	return retry([&] { return ops().mkdirat(dirfd, path, mode); });
}

int fsync(int fd)
{
	return retry([&] { return ops().fsync(fd); });
}

int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
	return retry([&] { return ops().statx(dirfd, path, flags, mask, out); });
}

ssize_t getdents64(int fd, void *buf, size_t count)
{
	return retry([&] { return ops().getdents64(fd, buf, count); });
}

} // namespace lw::sys

namespace lw::sys {

int fanotifyInit(unsigned flags, unsigned eventFlags)
{
	return retry([&] { return ops().fanotifyInit(flags, eventFlags); });
}

int fanotifyMark(int fd, unsigned flags, unsigned long long mask, int dirfd, const char *path)
{
	return retry([&] { return ops().fanotifyMark(fd, flags, mask, dirfd, path); });
}

int nameToHandleAt(int dirfd, const char *path, struct file_handle *handle, int *mountId, int flags)
{
	return retry([&] { return ops().nameToHandleAt(dirfd, path, handle, mountId, flags); });
}

int statFs(const char *path, struct statfs *out)
{
	return retry([&] { return ops().statfs(path, out); });
}

} // namespace lw::sys

// The one thin layer every syscall on the store goes through: EINTR is retried,
// failures are returned as -errno (libuv's convention), and tests can replace any
// entry of ops() to inject ENOSPC, EACCES, ENOSYS or short reads.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace lw::sys {

struct Ops {
	int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
	// openat2(2) with RESOLVE_* flags; -ENOSYS where the kernel lacks it.
	int (*openat2Beneath)(int dirfd, const char *path, int flags, mode_t mode);
	ssize_t (*read)(int fd, void *buf, size_t count);
	ssize_t (*write)(int fd, const void *buf, size_t count);
	int (*fstat)(int fd, struct stat *st);
	int (*fstatat)(int dirfd, const char *path, struct stat *st, int flags);
	ssize_t (*readlinkat)(int dirfd, const char *path, char *buf, size_t size);
	int (*symlinkat)(const char *target, int dirfd, const char *path);
	int (*renameat2)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			 unsigned flags);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	int (*mkdirat)(int dirfd, const char *path, mode_t mode);
	int (*fsync)(int fd);
	int (*statx)(int dirfd, const char *path, int flags, unsigned mask, struct statx *out);
	// getdents64(2): a folder's entries as linux_dirent64 records; 0 at the end.
	ssize_t (*getdents64)(int fd, void *buf, size_t count);
	// The fanotify backend's calls (-ENOSYS in a build without fanotify).
	int (*fanotifyInit)(unsigned flags, unsigned eventFlags);
	int (*fanotifyMark)(int fd, unsigned flags, unsigned long long mask, int dirfd, const char *path);
	int (*nameToHandleAt)(int dirfd, const char *path, struct file_handle *handle, int *mountId, int flags);
	int (*statfs)(const char *path, struct statfs *out);
};

// The live table. Replace entries only in tests, and restore them (ScopedOp).
Ops &ops();

// While in scope, every call this thread makes through the wrappers below (close
// aside) adds one to *tally: what a remote tick costs the server, near enough, for
// stats. Nests (the outer tally comes back); nullptr counts nothing.
class ScopedCallTally {
public:
	explicit ScopedCallTally(std::atomic<std::uint64_t> *tally);
	~ScopedCallTally();
	ScopedCallTally(const ScopedCallTally &) = delete;
	ScopedCallTally &operator=(const ScopedCallTally &) = delete;

private:
	std::atomic<std::uint64_t> *previous_;
};

// Each wrapper returns the result (>= 0) or -errno, and retries EINTR.
int openAt(int dirfd, const char *path, int flags, mode_t mode = 0);
int openBeneath(int dirfd, const char *path, int flags, mode_t mode = 0);
ssize_t read(int fd, void *buf, size_t count);
ssize_t writeAll(int fd, const void *buf, size_t count);
int fstat(int fd, struct stat *st);
int fstatAt(int dirfd, const char *path, struct stat *st, int flags);
ssize_t readlinkAt(int dirfd, const char *path, char *buf, size_t size);
int symlinkAt(const char *target, int dirfd, const char *path);
int renameAt(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	     unsigned flags = 0);
int unlinkAt(int dirfd, const char *path, int flags);
int mkdirAt(int dirfd, const char *path, mode_t mode);
int fsync(int fd);
int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out);
ssize_t getdents64(int fd, void *buf, size_t count);
int fanotifyInit(unsigned flags, unsigned eventFlags);
int fanotifyMark(int fd, unsigned flags, unsigned long long mask, int dirfd, const char *path);
int nameToHandleAt(int dirfd, const char *path, struct file_handle *handle, int *mountId, int flags);
int statFs(const char *path, struct statfs *out);

// Test helper: replaces one entry of ops() for its lifetime.
template <class Fn>
class ScopedOp {
public:
	ScopedOp(Fn Ops::*member, Fn replacement) : member_(member), saved_(ops().*member)
	{
		ops().*member_ = replacement;
	}
	~ScopedOp() { ops().*member_ = saved_; }
	ScopedOp(const ScopedOp &) = delete;
	ScopedOp &operator=(const ScopedOp &) = delete;

private:
	Fn Ops::*member_;
	Fn saved_;
};

} // namespace lw::sys

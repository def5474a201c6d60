/* netsim: a network filesystem simulator for tests and benchmarks (libfuse3).
 *
 * A read-only view of SOURCE at MOUNTPOINT that behaves like an NFS client's mount:
 * every operation waits a round trip (--delay-us), the kernel caches attributes,
 * lookups and folder listings for as long as told (--attr-timeout, --entry-timeout,
 * --cache-readdir), and operations can be made to fail with a chosen errno or to stall.
 *
 *   netsim [--delay-us=N] [--attr-timeout=S] [--entry-timeout=S] [--cache-readdir]
 *          [--coarse-times] SOURCE MOUNTPOINT [fuse options]
 *
 * --coarse-times gives whole seconds only, as servers and filesystems of coarse
 * timestamps do: a change within the second of a listing leaves the folder's mtime as
 * it was.
 *
 * Two files at the mount's root, not listed, are the test's handle on the server:
 *   .netsim-stats    read: one JSON object of operation counts ("getattr", "readdir",
 *                    "open", "read", "readlink", "statfs", "total", "failed") and
 *                    "in_flight_mean", the operations in flight as each arrives (itself
 *                    included), on average: how much of the latency a client overlaps
 *   .netsim-control  write one line: "fail ERRNO TEXT" (every operation on a path
 *                    containing TEXT fails with ERRNO, "" for all), "stall TEXT" (they
 *                    wait until the next command), "clear", "reset" (counts to zero)
 * Neither is counted. It daemonizes as fuse_main does (-f: stays in the foreground). */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static const char kStats[] = "/.netsim-stats";
static const char kControl[] = "/.netsim-control";

enum { OP_GETATTR, OP_READDIR, OP_OPEN, OP_READ, OP_READLINK, OP_STATFS, OP_KINDS };
static const char *const kOpNames[OP_KINDS] = {"getattr", "readdir", "open", "read", "readlink", "statfs"};

static struct {
	char *source;
	long delayUs;
	double attrTimeout, entryTimeout;
	int cacheReaddir;
	int coarseTimes;
} options = {NULL, 0, 1.0, 1.0, 0, 0};

static atomic_ulong counts[OP_KINDS];
static atomic_ulong failedCount;
static atomic_ulong inFlight, inFlightSum; /* now; summed over arrivals */

/* The fault in force: guarded by faultLock; stalled operations wait on faultChanged. */
static pthread_mutex_t faultLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t faultChanged = PTHREAD_COND_INITIALIZER;
static enum { FAULT_NONE, FAULT_FAIL, FAULT_STALL } faultKind = FAULT_NONE;
static int faultErrno = 0;
static char faultText[PATH_MAX] = "";
static unsigned long faultGeneration = 0;

static int isVirtual(const char *path)
{
	return strcmp(path, kStats) == 0 || strcmp(path, kControl) == 0;
}

/* One operation reaches the server: counted, delayed a round trip, and failed or held
 * as the fault in force says. Returns 0 or -errno. */
static int serve(int op, const char *path)
{
	atomic_fetch_add(&counts[op], 1);
	atomic_fetch_add(&inFlightSum, atomic_fetch_add(&inFlight, 1) + 1);
	if (options.delayUs > 0) {
		struct timespec t = {options.delayUs / 1000000, (options.delayUs % 1000000) * 1000};
		while (nanosleep(&t, &t) != 0 && errno == EINTR)
			;
	}
	pthread_mutex_lock(&faultLock);
	int result = 0;
	for (;;) {
		/* Never the mount root's attributes: the kernel asks for them on the way to
		 * .netsim-control (a permission check, once they are older than attr_timeout),
		 * and a fault on every path ("") would otherwise keep out the command that
		 * clears it. Its listing still fails. */
		int root = op == OP_GETATTR && strcmp(path, "/") == 0;
		int matches = faultKind != FAULT_NONE && !root && strstr(path, faultText) != NULL;
		if (matches && faultKind == FAULT_STALL) {
			unsigned long seen = faultGeneration;
			while (seen == faultGeneration)
				pthread_cond_wait(&faultChanged, &faultLock);
			continue;
		}
		if (matches && faultKind == FAULT_FAIL) {
			atomic_fetch_add(&failedCount, 1);
			result = -faultErrno;
		}
		break;
	}
	pthread_mutex_unlock(&faultLock);
	atomic_fetch_sub(&inFlight, 1);
	return result;
}

static void fullPath(char *out, const char *path)
{
	snprintf(out, PATH_MAX, "%s%s", options.source, path);
}

static int statsText(char *buf, size_t size)
{
	int n = snprintf(buf, size, "{");
	unsigned long total = 0;
	for (int i = 0; i < OP_KINDS; ++i) {
		unsigned long c = atomic_load(&counts[i]);
		total += c;
		n += snprintf(buf + n, size - (size_t)n, "\"%s\":%lu,", kOpNames[i], c);
	}
	double meanInFlight = total ? (double)atomic_load(&inFlightSum) / (double)total : 0.0;
	n += snprintf(buf + n, size - (size_t)n, "\"total\":%lu,\"failed\":%lu,\"in_flight_mean\":%.1f}\n", total,
		      atomic_load(&failedCount), meanInFlight);
	return n;
}

static void *simInit(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Reads through the page cache (readahead) and releases are FUSE "background"
	 * requests, of which the kernel keeps 12 in flight by default: a cap an NFS client,
	 * with its many RPC slots, does not have. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* Every listing brings its entries' attributes (READDIRPLUS), as an NFS client's
	 * first listing of a folder does, not only its first 32 KiB. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* Not had here: libfuse 3.14 never passes FUSE_PARALLEL_DIROPS on to the kernel,
	 * which then sends one folder's lookups one at a time (an NFS client sends them
	 * together). Listings prime the entries (simReaddir), so the tree folders, where
	 * that would hurt, see few lookups. */
	cfg->use_ino = 1; /* the source's inode numbers: identities stay true */
	cfg->attr_timeout = options.attrTimeout;
	cfg->entry_timeout = options.entryTimeout;
	/* Not cached: an NFS client revalidates a negative lookup against its folder's
	 * mtime, which FUSE cannot; a cached "missing" would be harsher than NFS. */
	cfg->negative_timeout = 0;
	return NULL;
}

/* With --coarse-times, whole seconds only, as some servers keep them. */
static void coarsen(struct stat *st)
{
	if (!options.coarseTimes)
		return;
	st->st_mtim.tv_nsec = 0;
	st->st_ctim.tv_nsec = 0;
	st->st_atim.tv_nsec = 0;
}

static int simGetattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	if (isVirtual(path)) {
		memset(st, 0, sizeof *st);
		st->st_mode = S_IFREG | (strcmp(path, kStats) == 0 ? 0444 : 0222);
		st->st_nlink = 1;
		return 0;
	}
	int r = serve(OP_GETATTR, path);
	if (r < 0)
		return r;
	char p[PATH_MAX];
	fullPath(p, path);
	if (lstat(p, st) != 0)
		return -errno;
	coarsen(st);
	return 0;
}

static int simReadlink(const char *path, char *buf, size_t size)
{
	int r = serve(OP_READLINK, path);
	if (r < 0)
		return r;
	char p[PATH_MAX];
	fullPath(p, path);
	ssize_t n = readlink(p, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int simOpendir(const char *path, struct fuse_file_info *fi)
{
	int r = serve(OP_READDIR, path);
	if (r < 0)
		return r;
	char p[PATH_MAX];
	fullPath(p, path);
	DIR *dir = opendir(p);
	if (!dir)
		return -errno;
	fi->fh = (uint64_t)(uintptr_t)dir;
	/* As an NFS client: a listing is kept until the folder's attributes change. */
	fi->cache_readdir = options.cacheReaddir;
	fi->keep_cache = options.cacheReaddir;
	return 0;
}

static int simReaddir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)path;
	DIR *dir = (DIR *)(uintptr_t)fi->fh;
	/* Entries go with the offset of the next one: libfuse then hands the kernel each
	 * entry's node and timeouts, so a listing primes the kernel's lookups as an NFS
	 * client's READDIRPLUS primes its dentry cache. (Given offset 0, libfuse 3.14
	 * drops the attributes of a READDIRPLUS, and every entry is looked up again.) */
	if (offset == 0)
		rewinddir(dir);
	else
		seekdir(dir, offset);
	int plus = (flags & FUSE_READDIR_PLUS) != 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		struct stat st = {0};
		st.st_ino = e->d_ino;
		st.st_mode = (mode_t)DTTOIF(e->d_type);
		int withAttributes = plus && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
				     fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (withAttributes)
			coarsen(&st);
		if (fill(buf, e->d_name, &st, e->d_off, withAttributes ? FUSE_FILL_DIR_PLUS : 0))
			break;
	}
	return 0;
}

static int simReleasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int simOpen(const char *path, struct fuse_file_info *fi)
{
	if (isVirtual(path)) {
		fi->direct_io = 1; /* never cached: each read asks again */
		return 0;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	int r = serve(OP_OPEN, path);
	if (r < 0)
		return r;
	char p[PATH_MAX];
	fullPath(p, path);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int simRead(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	if (strcmp(path, kStats) == 0) {
		char text[1024];
		int n = statsText(text, sizeof text);
		if (offset >= n)
			return 0;
		size_t left = (size_t)(n - offset);
		size_t copy = left < size ? left : size;
		memcpy(buf, text + offset, copy);
		return (int)copy;
	}
	if (isVirtual(path))
		return -EACCES;
	int r = serve(OP_READ, path);
	if (r < 0)
		return r;
	ssize_t n = pread((int)fi->fh, buf, size, offset);
	return n < 0 ? -errno : (int)n;
}

static int simWrite(const char *path, const char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	(void)offset, (void)fi;
	if (strcmp(path, kControl) != 0)
		return -EROFS;
	char line[PATH_MAX + 64];
	size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
	memcpy(line, buf, n);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	pthread_mutex_lock(&faultLock);
	int err = 0;
	char text[PATH_MAX] = "";
	if (sscanf(line, "fail %d %4095s", &err, text) >= 1 && err > 0) {
		faultKind = FAULT_FAIL;
		faultErrno = err;
		snprintf(faultText, sizeof faultText, "%s", text);
	} else if (strncmp(line, "stall", 5) == 0) {
		sscanf(line, "stall %4095s", text);
		faultKind = FAULT_STALL;
		snprintf(faultText, sizeof faultText, "%s", text);
	} else if (strcmp(line, "clear") == 0) {
		faultKind = FAULT_NONE;
	} else if (strcmp(line, "reset") == 0) {
		for (int i = 0; i < OP_KINDS; ++i)
			atomic_store(&counts[i], 0);
		atomic_store(&failedCount, 0);
		atomic_store(&inFlightSum, 0);
	} else {
		pthread_mutex_unlock(&faultLock);
		return -EINVAL;
	}
	++faultGeneration;
	pthread_cond_broadcast(&faultChanged);
	pthread_mutex_unlock(&faultLock);
	return (int)size;
}

static int simTruncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void)size, (void)fi;
	return strcmp(path, kControl) == 0 ? 0 : -EROFS;
}

static int simRelease(const char *path, struct fuse_file_info *fi)
{
	if (!isVirtual(path))
		close((int)fi->fh);
	return 0;
}

static int simStatfs(const char *path, struct statvfs *st)
{
	int r = serve(OP_STATFS, path);
	if (r < 0)
		return r;
	char p[PATH_MAX];
	fullPath(p, path);
	return statvfs(p, st) == 0 ? 0 : -errno;
}

static const struct fuse_operations kOps = {
	.init = simInit,
	.getattr = simGetattr,
	.readlink = simReadlink,
	.opendir = simOpendir,
	.readdir = simReaddir,
	.releasedir = simReleasedir,
	.open = simOpen,
	.read = simRead,
	.write = simWrite,
	.truncate = simTruncate,
	.release = simRelease,
	.statfs = simStatfs,
};

static int takeOption(const char *arg)
{
	if (strncmp(arg, "--delay-us=", 11) == 0)
		options.delayUs = strtol(arg + 11, NULL, 10);
	else if (strncmp(arg, "--attr-timeout=", 15) == 0)
		options.attrTimeout = strtod(arg + 15, NULL);
	else if (strncmp(arg, "--entry-timeout=", 16) == 0)
		options.entryTimeout = strtod(arg + 16, NULL);
	else if (strcmp(arg, "--cache-readdir") == 0)
		options.cacheReaddir = 1;
	else if (strcmp(arg, "--coarse-times") == 0)
		options.coarseTimes = 1;
	else
		return 0;
	return 1;
}

int main(int argc, char **argv)
{
	/* Our options out, SOURCE out; the rest (MOUNTPOINT, -f, -o ...) goes to libfuse. */
	char **rest = calloc((size_t)argc + 3, sizeof *rest);
	int n = 0;
	rest[n++] = argv[0];
	for (int i = 1; i < argc; ++i) {
		if (takeOption(argv[i]))
			continue;
		if (!options.source && argv[i][0] != '-') {
			options.source = realpath(argv[i], NULL);
			if (!options.source) {
				fprintf(stderr, "netsim: %s: %s\n", argv[i], strerror(errno));
				return 1;
			}
			continue;
		}
		rest[n++] = argv[i];
	}
	if (!options.source || n < 2) {
		fprintf(stderr, "usage: netsim [--delay-us=N] [--attr-timeout=S] [--entry-timeout=S] "
				"[--cache-readdir] [--coarse-times] SOURCE MOUNTPOINT [fuse options]\n");
		return 2;
	}
	rest[n++] = "-o";
	/* Many requests in flight, as an NFS server serves many at once. */
	rest[n++] = "default_permissions,fsname=netsim,subtype=netsim,max_threads=64,max_idle_threads=64";
	return fuse_main(n, rest, &kOps, NULL);
}

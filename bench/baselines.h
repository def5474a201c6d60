// The baselines the sections measure layerwatch against, in the same run: the rename
// floors (kernel and hand-off), the seed's pass and the plain crawl.
#pragma once

#include "bench_common.h"
#include "executor.h"

#include <uv.h>

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace lw::bench {

// A floor: one rename in dir, timed from just before it to the moment the floor's
// listener says it heard it (heard()). The listener is the subclass's own; both
// listen on fd_, an inotify fd.
class RenameFloor {
public:
	RenameFloor(std::string dir, int inotifyFlags, const char *name);
	RenameFloor(const RenameFloor &) = delete;
	RenameFloor &operator=(const RenameFloor &) = delete;
	~RenameFloor();

	// One rename, in µs.
	double sample();

protected:
	static bool movedIn(const char *buffer, ssize_t n);
	// The rename was heard at `at` (any thread).
	void heard(Clock::time_point at);

	std::string dir_;
	int fd_ = -1;

private:
	const char *name_;
	std::mutex mutex_;
	std::condition_variable cv_;
	long events_ = 0;
	Clock::time_point at_;
};

// A bare inotify reader on a thread of its own, blocked in read(2) as the watcher's
// thread is blocked in epoll: the kernel's own wake-up for a rename, no work after it.
class KernelFloor : public RenameFloor {
public:
	explicit KernelFloor(std::string dir);
	~KernelFloor();

private:
	void read();
	std::thread reader_;
	std::atomic<bool> stop_{false};
};

// The same rename heard through the hand-offs DESIGN.md section 4 fixes, and nothing
// else: a libuv loop on a thread of its own polls an inotify fd (uv_poll_t), hands a
// job to a worker (the engine's Executor), and the worker's empty result comes back
// through uv_async_t to a callback on the loop. What any engine under those rules
// pays before it reads a file or judges an image.
class HandOffFloor : public RenameFloor {
public:
	explicit HandOffFloor(std::string dir);
	~HandOffFloor();

private:
	// Loop thread: drain, hand the read to a worker, whose result comes back here.
	void drain();
	void done();
	uv_loop_t loop_{};
	uv_poll_t poll_{};
	uv_async_t done_{};
	Executor executor_{1, [this] { uv_async_send(&done_); }};
	std::thread loopThread_;
	std::atomic<bool> stopping_{false};
};

// The seed's way, every 5 s: list the trees and parse every manifest, images.json and
// layer.json again. Returns how many files parsed.
std::size_t seedPass(int rootFd);

// What the validator needs, stats only: every tree listed, every entry stat'ed.
std::size_t crawl(const std::string &root);

// The floor of a load over a network share (section 6): what the readiness rules need
// from the server and nothing else, threads at a time, with no bookkeeping. Every tree
// listed; each overlay's folder looked at, its link and lower read and its diff looked
// at; each layer's folder looked at and layer.json read; each image's folder looked at
// and listed, images.json and manifest read and every other file looked at. Returns
// how many items it went through.
std::size_t readinessCrawl(const std::string &root, unsigned threads);

// The floor of this host's links for a load of `layers` layers: three links a layer,
// made one at a time (as the loop thread makes them) in three new folders under dir,
// as a load makes overlay/<id>, overlay-layers/<id> and overlay/l/<link>, the way
// DESIGN.md section 3 has it: if missing (a look at the name), a symlink to a
// temporary name, then rename(2).
// Returns the milliseconds they took. They are left in place: ext4 skips the inodes
// deleted in the last minutes when it allocates, so deleting them would slow whatever
// comes next on the disk (the load measured after it).
double linkFloorMs(const std::string &dir, std::size_t layers);

} // namespace lw::bench

// The event engine (DESIGN.md sections 4 and 5): a watcher on a libuv loop that
// keeps the store in step with the shared trees. fanotify or inotify on local trees, a periodic
// rescan of remote ones (and of any tree whose watches failed), resyncs on overflow.
//
// Threads: create() anywhere. attach() on the loop's thread; or start() to run on a
// thread and loop of the watcher's own. stop() from any thread, at any moment.
// Callbacks run on the loop thread, which never reads the shared trees: every read
// runs on the watcher's worker threads, and the loop only adopts what they read.
// snapshot() and stats() from any thread.
// Lifetime: after stop(), the watcher's handles close on the loop; once closed()
// (or join() returns, with start()), the loop closes with no handle of ours left.
// The watcher may be destroyed at any moment, from any thread or from its own
// callbacks (the Stopped one included): destroyed early, it stops, calls no
// callback again, and frees itself after its last handle closed.
#pragma once

#include <layerwatch/events.h>
#include <layerwatch/export.h>
#include <layerwatch/result.h>
#include <layerwatch/store.h>

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lw {

enum class WatchMode {
	Auto,     // fanotify where it may be had (CAP_SYS_ADMIN, every local tree's filesystem
		  // takes a mark), else inotify, else rescans
	Inotify,  // inotify (rescans while it cannot be had)
	Fanotify, // fanotify: create() fails with why where it cannot be had
	Poll,     // rescans only
};

enum class LogLevel { Debug, Info, Warning, Error };

struct WatcherOptions {
	std::string root;
	WatchMode mode = WatchMode::Auto;
	// Rescan period of remote trees (and of every tree in Poll mode).
	std::uint32_t intervalMs = 5000;
	// On a remote tree an idle tick looks at the tree folder (fresh from the server)
	// and lists it only when it changed; ready images are verified (their folder, fresh)
	// in a rotating slice, each at least once per verifyPeriodMs. 0: every item at
	// every tick.
	std::uint32_t verifyPeriodMs = 300000;
	// Items of a remote tree read at once, at most (many requests in flight).
	std::uint32_t remoteReads = 32;
	// An optional slow safety rescan of local trees; 0: none.
	std::uint32_t localRescanMs = 0;
	// Trust the writer's generation file (paths::kGenerationFile): while it is
	// unchanged, a periodic rescan is skipped at the cost of one stat. Only for stores
	// whose every writer bumps it (layerwatch's writer does; iSulad does not). A full
	// rescan still runs every fullRescanMs.
	bool trustGeneration = false;
	std::uint32_t fullRescanMs = 60000;
	// Content watches on pending items' folders (inotify), at most: beyond it pending
	// items are looked at only by the pending rescan. Each watch pins kernel memory
	// and counts against the user's fs.inotify.max_user_watches, which every other
	// program of that user shares: a share full of junk folders must not take it all.
	std::uint32_t maxPendingWatches = 1024;
	// Items whose own files are unusable kept in full per tree, at most: beyond it
	// they are only counted and watched for change (their identity kept, not what
	// was read), so that a share full of junk costs bounded memory. Told once by an
	// Error event; each is listed as pending with a reason saying so.
	std::uint32_t maxPendingItems = 10000;
	// Kernel records handled per loop pass at most, so a storm cannot starve the host.
	std::uint32_t maxRecordsPerPass = 4096;
	// Make and remove local links (DESIGN.md section 3). With it, the first load also
	// removes what a host that was down left behind: dangling links into RO/, the
	// links of RO layers that are pending, stale short links.
	bool commitLinks = true;
	// Without commitLinks: the first load still removes dangling local links into RO/
	// (their target gone, ENOENT), and nothing else. For a host that makes its links
	// itself but loaded what they name at start (iSulad's module).
	bool removeDanglingLinks = false;
	// Tell EventType::Gone: an item never committed whose folder left the share.
	bool tellGone = false;
	// A read of the shared trees that has not come back after this long marks its
	// trees stalled (an Error event); 0: twice the interval, at least 10 s.
	std::uint32_t stallMs = 0;
	// A tree or an item that could not be read is read again after retryMs,
	// doubling up to 30 s (or retryMs, if more) while the trouble lasts.
	std::uint32_t retryMs = 1000;
	// The host's log sink; nothing is printed without one.
	std::function<void(LogLevel, const std::string &)> log;
	LogLevel logLevel = LogLevel::Info;
};

struct WatcherStats {
	std::uint64_t kernelEvents = 0;   // kernel records read (under fanotify: of the whole filesystem)
	std::uint64_t batches = 0;        // drained batches reconciled
	std::uint64_t coalesced = 0;      // ids reconciled from those batches
	std::uint64_t rescans = 0;
	std::uint64_t generationSkips = 0; // periodic rescans skipped: generation unchanged
	std::uint64_t resyncs = 0;
	std::uint64_t lastRescanUs = 0;   // wall time of the last rescan
	std::uint64_t watches = 0;        // inotify watches held
	std::uint64_t marks = 0;          // fanotify marks held (one per filesystem)
	std::uint64_t pending = 0;
	std::uint64_t errors = 0;         // Error events told
	std::uint64_t troubled = 0;       // trees and items that cannot be read right now
	std::uint64_t stalled = 0;        // trees whose read has not come back in time
	std::uint64_t readsInFlight = 0;  // reads running on workers (after stop too: stuck ones)
	// Calls made on remote trees' filesystems (open, read, statx, getdents ...; close
	// aside): in all, and in the last periodic tick. Each is about one server request;
	// the client's caches may answer some, and a path of several names may cost more.
	std::uint64_t remoteCalls = 0;
	std::uint64_t remoteTickCalls = 0;
	PerTree<bool> remote;             // another host writes it
	PerTree<bool> rescanned;          // rescanned periodically
	const char *backend = "poll";     // "fanotify", "inotify" or "poll" (a static string)
};

class LW_EXPORT Watcher {
public:
	using EventCallback = std::function<void(const Event &)>;

	// Checks the options and opens the root; nothing runs yet.
	static Result<std::unique_ptr<Watcher>> create(WatcherOptions options, EventCallback onEvent);
	~Watcher();
	Watcher(const Watcher &) = delete;
	Watcher &operator=(const Watcher &) = delete;

	// Starts on the caller's loop, from its thread, and returns at once: the initial
	// load runs on worker threads, its events come on the loop, then a Ready event.
	// EALREADY when started before.
	Result<void> attach(uv_loop_t *loop);
	// Starts on a thread and loop of its own; EALREADY when started before.
	Result<void> start();
	// Stops: closes every handle; the last callback is a Stopped event. Safe at any
	// moment and from any thread; before a start it does nothing, and a start after
	// it fails with ECANCELED.
	void stop();
	// With start(): waits for the thread to end.
	void join();
	bool closed() const;

	Snapshot snapshot() const;
	WatcherStats stats() const;
	// Every item not ready, with its one reason (by kind, then id; shelved ones last),
	// as of the last events told. From any thread.
	std::vector<PendingItem> pending() const;

	struct Impl;

private:
	explicit Watcher(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

LW_EXPORT const char *watchModeName(WatchMode mode);
LW_EXPORT bool parseWatchMode(const std::string &text, WatchMode &mode);

} // namespace lw

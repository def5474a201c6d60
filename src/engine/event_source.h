// What a kernel event source (inotify or fanotify) tells the engine, and nothing
// more (watchman's Watcher interface): "this id in this tree may have changed", or
// "the view of this tree may be stale", with why. A source never touches the store.
#pragma once

#include "tree.h"

#include <layerwatch/events.h>
#include <layerwatch/result.h>

#include <cstddef>
#include <functional>
#include <string>

namespace lw {


struct SourceOutput {
	std::function<void(Tree tree, const std::string &id)> changed;
	std::function<void(Tree tree, ResyncReason reason)> stale;
};

// What the engine asks of a source, whichever kernel interface is behind it. Loop-bound:
// one thread.
class KernelSource {
public:
	virtual ~KernelSource() = default;
	// "inotify" or "fanotify": the `ready` event's backend, and the events' source.
	virtual const char *name() const = 0;
	virtual EventSource eventSource() const = 0;
	virtual int fd() const = 0;

	// Follows a tree folder's entries coming and going. An error (ENOSPC, ENOENT ...)
	// means the tree must be rescanned instead.
	virtual Result<void> watchTree(Tree tree) = 0;
	virtual bool treeWatched(Tree tree) const = 0;
	// Follows the files inside one item folder (never through a symlink).
	virtual Result<void> watchItem(Tree tree, const std::string &id) = 0;
	virtual void unwatchItem(Tree tree, const std::string &id) = 0;
	virtual bool itemWatched(Tree tree, const std::string &id) const = 0;
	virtual std::size_t itemWatchCount(Tree tree) const = 0;

	// Reads and dispatches records until EAGAIN or until maxRecords were handled
	// (so a storm cannot starve the host loop). Returns the records handled, or
	// -errno on a read error.
	virtual long drain(std::size_t maxRecords) = 0;

	// Kernel objects held: inotify watches (each pins an inode and counts against
	// fs.inotify.max_user_watches), fanotify marks (one per filesystem).
	virtual std::size_t watchCount() const = 0;
	virtual std::size_t markCount() const = 0;
};

// What the two sources share: root/<tree>[/<id>], and the bounded drain of a fd that
// gives whole records. parse splits one read into records, counts them into handled,
// and says whether the read was whole (a short or corrupt one makes every tree stale).
// Returns the records handled, or -errno on a read error.
std::string sourcePath(const std::string &root, Tree tree, const std::string &id);
long drainRecords(int fd, std::size_t maxRecords, const SourceOutput &output,
		  const std::function<bool(const char *buffer, std::size_t length, std::size_t &handled)> &parse);

} // namespace lw

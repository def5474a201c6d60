// What an event source (inotify now, fanotify next) tells the engine, and nothing
// more (watchman's Watcher interface): "this id in this tree may have changed", or
// "the view of this tree may be stale", with why. A source never touches the store.
#pragma once

#include "validator.h"

#include <functional>
#include <string>

namespace lw {

enum class StaleReason {
	Overflow,  // the kernel's queue overflowed: events were lost
	WatchLost, // the tree's watch went (deleted, moved away, IN_IGNORED)
	Unmount,   // the tree's filesystem was unmounted
	ShortRead, // a record ran past what was read
	PollError, // the loop reported an error on the source's fd
	ReadError, // reading the source's fd failed
};

struct SourceOutput {
	std::function<void(Tree tree, const std::string &id)> changed;
	std::function<void(Tree tree, StaleReason reason)> stale;
};

// The `resync` event's reason: "overflow", "watch_lost", ...
inline const char *staleReasonName(StaleReason reason)
{
	switch (reason) {
	case StaleReason::Overflow:
		return "overflow";
	case StaleReason::WatchLost:
		return "watch_lost";
	case StaleReason::Unmount:
		return "unmount";
	case StaleReason::ShortRead:
		return "short_read";
	case StaleReason::PollError:
		return "poll_error";
	case StaleReason::ReadError:
		return "read_error";
	}
	return "rescan";
}

} // namespace lw

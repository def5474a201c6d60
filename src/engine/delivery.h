// How the engine speaks to its host: events to its callback and lines to its log,
// one at a time, never after the host let go (one under way on another thread
// finishes first; one from inside a callback may let go), a callback that throws
// logged and nothing more; and the pending list, which any thread may read.
#pragma once

#include "reconciler.h"

#include <layerwatch/watcher.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lw {

class Delivery {
public:
	using LogFn = std::function<void(LogLevel, const std::string &)>;
	Delivery(Watcher::EventCallback onEvent, LogFn log, LogLevel logLevel)
		: onEvent_(std::move(onEvent)), log_(std::move(log)), logLevel_(logLevel)
	{
	}

	void log(LogLevel level, const std::string &message);
	// Tells events in order, each stamped with source. records: those of events whose
	// record is yet to be made (EventRecords), made just before each is told and let
	// go after. Errors are logged too, pending reasons at Debug.
	void tell(std::vector<Event> &events, EventSource source, const EventRecords &records = {});
	// The host let go: nothing is told from now on.
	void detach();

	void publishPending(std::vector<PendingItem> list);
	std::vector<PendingItem> pending() const; // any thread
	std::uint64_t errors() const { return errors_; }

private:
	void tellOne(const Event &e);

	Watcher::EventCallback onEvent_;
	LogFn log_;
	LogLevel logLevel_;
	std::recursive_mutex callbackMutex_; // (recursive: a callback may log, or let go)
	bool detached_ = false;              // guarded by callbackMutex_
	std::atomic<std::uint64_t> errors_{0};
	mutable std::mutex pendingMutex_;
	std::shared_ptr<const std::vector<PendingItem>> pending_; // guarded by pendingMutex_
};

} // namespace lw

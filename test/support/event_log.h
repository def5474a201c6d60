// Collects a watcher's events from its loop thread and lets a test wait for one,
// with a deadline (never sleep-and-hope).
#pragma once

#include <layerwatch/events.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace lw::test {

class EventLog {
public:
	struct Entry {
		Event event;
		std::chrono::steady_clock::time_point at;
	};

	// The callback to hand to Watcher::create.
	std::function<void(const Event &)> sink()
	{
		return [this](const Event &e) {
			std::lock_guard lock(mutex_);
			entries_.push_back({e, std::chrono::steady_clock::now()});
			changed_.notify_all();
		};
	}

	// Waits until pred holds over all events so far, or the deadline passes.
	bool waitFor(const std::function<bool(const std::vector<Entry> &)> &pred,
		     std::chrono::milliseconds timeout = std::chrono::seconds(10))
	{
		std::unique_lock lock(mutex_);
		return changed_.wait_for(lock, timeout, [&] { return pred(entries_); });
	}

	// Waits for an event of this type (and id, when given) after index from.
	bool waitForEvent(EventType type, const std::string &id = {}, std::size_t from = 0,
			  std::chrono::milliseconds timeout = std::chrono::seconds(10))
	{
		return waitFor([&](const std::vector<Entry> &all) { return find(all, type, id, from) >= 0; }, timeout);
	}

	static long find(const std::vector<Entry> &all, EventType type, const std::string &id, std::size_t from = 0)
	{
		for (std::size_t i = from; i < all.size(); ++i)
			if (all[i].event.type == type && (id.empty() || all[i].event.id == id))
				return static_cast<long>(i);
		return -1;
	}

	std::vector<Entry> entries()
	{
		std::lock_guard lock(mutex_);
		return entries_;
	}
	std::size_t size()
	{
		std::lock_guard lock(mutex_);
		return entries_.size();
	}

private:
	std::mutex mutex_;
	std::condition_variable changed_;
	std::vector<Entry> entries_;
};

} // namespace lw::test

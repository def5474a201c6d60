// Events and log lines to the host, and the pending list for any thread.
#include "delivery.h"

#include <fmt/format.h>

namespace lw {

void Delivery::log(LogLevel level, const std::string &message)
{
	std::lock_guard lock(callbackMutex_);
	if (detached_ || !log_ || level < logLevel_)
		return;
	try {
		log_(level, message);
	} catch (...) {
	}
}

void Delivery::tell(std::vector<Event> &events, EventSource source, const EventRecords &records)
{
	std::lock_guard lock(callbackMutex_);
	auto nextLayer = records.layers.begin();
	auto nextImage = records.images.begin();
	for (std::size_t i = 0; i < events.size(); ++i) {
		Event &e = events[i];
		e.source = source;
		bool made = false;
		if (nextLayer != records.layers.end() && nextLayer->first == i)
			e.layer = (nextLayer++)->second.unpack(), made = true;
		if (nextImage != records.images.end() && nextImage->first == i)
			e.image = (nextImage++)->second.unpack(), made = true;
		tellOne(e);
		if (made)
			e.layer.reset(), e.image.reset();
	}
}

void Delivery::tellOne(const Event &e)
{
	if (e.type == EventType::Error) {
		++errors_;
		log(LogLevel::Error, e.message);
	} else if (e.type == EventType::Pending) {
		log(LogLevel::Debug, fmt::format("pending {} {}: {}", name(e.kind), e.id, e.reason));
	}
	if (detached_ || !onEvent_)
		return;
	try {
		onEvent_(e);
	} catch (const std::exception &ex) {
		log(LogLevel::Error, fmt::format("event callback threw: {}", ex.what()));
	} catch (...) {
		log(LogLevel::Error, "event callback threw");
	}
}

void Delivery::detach()
{
	std::lock_guard lock(callbackMutex_);
	detached_ = true;
}

void Delivery::publishPending(std::vector<PendingItem> list)
{
	auto shared = std::make_shared<const std::vector<PendingItem>>(std::move(list));
	std::lock_guard lock(pendingMutex_);
	pending_ = std::move(shared);
}

std::vector<PendingItem> Delivery::pending() const
{
	std::lock_guard lock(pendingMutex_);
	return pending_ ? *pending_ : std::vector<PendingItem>{};
}

} // namespace lw

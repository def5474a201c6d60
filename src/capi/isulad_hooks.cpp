// iSulad's store hooks, in order, on their own thread, under iSulad's lock.
#include "isulad_hooks.h"

#include <fmt/format.h>

#include <algorithm>

namespace lw::isulad {

HookCaller::HookCaller(Hooks hooks, pthread_rwlock_t *lock, std::function<void(const std::string &)> log,
		       std::chrono::milliseconds retry)
	: hooks_(hooks), lock_(lock), log_(std::move(log)), retry_(retry), thread_([this] { run(); })
{
}

HookCaller::~HookCaller()
{
	{
		std::lock_guard guard(mutex_);
		stopping_ = true;
	}
	wake_.notify_all();
	thread_.join();
}

void HookCaller::onEvent(const Event &event)
{
	switch (event.type) {
	case EventType::LayerAdded:
		push(Kind::LoadLayer, event.id);
		break;
	case EventType::LayerRemoved:
		push(Kind::RemoveLayer, event.id);
		break;
	case EventType::ImageAdded:
		push(Kind::AppendImage, event.id);
		break;
	case EventType::ImageUpdated:
		push(Kind::RemoveImage, event.id);
		push(Kind::AppendImage, event.id);
		break;
	case EventType::ImageRemoved:
		push(Kind::RemoveImage, event.id);
		break;
	default:
		break;
	}
}

std::size_t HookCaller::queued() const
{
	std::lock_guard guard(mutex_);
	return queue_.size();
}

void HookCaller::push(Kind kind, const std::string &id)
{
	{
		std::lock_guard guard(mutex_);
		if (kind == Kind::RemoveLayer || kind == Kind::RemoveImage) {
			Kind addition = kind == Kind::RemoveLayer ? Kind::LoadLayer : Kind::AppendImage;
			auto first = queue_.begin() + (frontInFlight_ ? 1 : 0);
			auto it = std::find_if(first, queue_.end(),
					       [&](const Call &c) { return c.kind == addition && c.id == id; });
			if (it != queue_.end()) {
				queue_.erase(it);
				return;
			}
		}
		queue_.push_back({kind, id});
	}
	wake_.notify_all();
}

int HookCaller::call(const Call &c)
{
	Hook hook = c.kind == Kind::LoadLayer	  ? hooks_.loadLayer
		    : c.kind == Kind::RemoveLayer ? hooks_.removeLayer
		    : c.kind == Kind::AppendImage ? hooks_.appendImage
						  : hooks_.removeImage;
	if (int r = pthread_rwlock_wrlock(lock_); r != 0)
		return -r;
	int result = hook(c.id.c_str());
	pthread_rwlock_unlock(lock_);
	return result;
}

void HookCaller::run()
{
	static constexpr const char *kNames[] = {"remote_load_one_layer", "remote_layer_remove_memory_stores_with_lock",
						 "remote_append_image_by_directory_with_lock",
						 "remote_remove_image_from_memory_with_lock"};
	std::unique_lock guard(mutex_);
	for (;;) {
		wake_.wait(guard, [&] { return stopping_ || !queue_.empty(); });
		if (stopping_)
			return;
		Call c = queue_.front();
		frontInFlight_ = true;
		guard.unlock();
		int result = call(c);
		guard.lock();
		frontInFlight_ = false;
		if (result == 0) {
			queue_.pop_front();
			continue;
		}
		auto &front = queue_.front();
		++front.failures;
		std::string what = fmt::format("{}({}) failed ({})", kNames[static_cast<int>(c.kind)], c.id, result);
		if (front.failures >= kAttempts) {
			// Given up in its place: to the back, so that the rest goes on.
			log_(what + fmt::format("; {} times: it is tried again after the other changes", front.failures));
			front.failures = 0;
			queue_.push_back(std::move(front));
			queue_.pop_front();
			continue;
		}
		log_(what + "; trying again");
		wake_.wait_for(guard, retry_, [&] { return stopping_; });
	}
}

} // namespace lw::isulad

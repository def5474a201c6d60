// The start-up clean-up of this host's local links, and what it deferred.
#include "startup_links.h"

#include "local_links.h"

#include <set>

#include <time.h>

namespace lw {

void StartupLinks::started()
{
	struct timespec now;
	::clock_gettime(CLOCK_REALTIME_COARSE, &now);
	startedWallNs_ = static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

Result<void> StartupLinks::afterLoad(int rootFd, const Snapshot &snapshot, const std::vector<PendingItem> &pending)
{
	std::set<std::string> pendingLayers;
	for (const auto &p : pending)
		if (p.kind != ItemKind::Image)
			pendingLayers.insert(p.id);
	auto removed = links::removeStaleLinks(rootFd, [&](const std::string &id) {
		if (auto layer = snapshot.layer(id))
			return links::LayerState{links::LayerState::Ready, layer->link};
		if (pendingLayers.count(id))
			return links::LayerState{links::LayerState::NotReady, {}};
		return links::LayerState{};
	}, deferred_, startedWallNs_);
	if (!removed)
		return removed.error();
	return {};
}

void StartupLinks::settle(int rootFd, const std::vector<Event> &events, const Store &store,
			  const Validator &validator, bool layerTreesTroubled)
{
	if (deferred_.empty())
		return;
	// Told ready (those that are not its link go: it was made anew while the host
	// was down), or proved not ready (no links).
	for (const auto &e : events) {
		auto it = deferred_.find(e.id);
		if (it == deferred_.end())
			continue;
		// (Its record may be made only as it is told: the link from the store.)
		if (auto layer = e.type == EventType::LayerAdded ? store.snapshot().layer(e.id) : nullptr)
			links::removeOtherShortLinks(rootFd, e.id, layer->link, it->second);
		else if (e.type == EventType::Pending && e.kind != ItemKind::Image)
			(void)links::remove(rootFd, e.id, it->second);
		else
			continue;
		deferred_.erase(it);
	}
	// Those that left the share before they were ever read well (gone from the
	// validator with no trouble left about them), and shelved ones (their files are
	// unusable: proved not ready, with no pending event to say so).
	for (auto it = deferred_.begin(); it != deferred_.end();) {
		const std::string &id = it->first;
		bool shelved = validator.isShelved(Tree::Overlay, id) || validator.isShelved(Tree::Layers, id);
		bool known = validator.holds(Tree::Overlay, id) || validator.holds(Tree::Layers, id);
		if (!shelved && (known || layerTreesTroubled)) {
			++it;
			continue;
		}
		(void)links::remove(rootFd, id, it->second);
		it = deferred_.erase(it);
	}
}

} // namespace lw

// The local links this host left behind while it was down, settled once the first load
// says what each layer is: a layer made anew under its id has a new link, a layer now
// pending has none, one gone has none. Short links of layers not known at that moment
// wait here until the layer's state is proved (ready, not ready, gone or shelved).
// Local work only (l/ and overlay/). Loop-bound: one thread.
#pragma once

#include "store_state.h"
#include "validator.h"

#include <layerwatch/events.h>
#include <layerwatch/result.h>
#include <layerwatch/store.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace lw {

class StartupLinks {
public:
	// The watcher starts: links made from now on (the filesystem's coarse clock) are
	// live work that the clean-up leaves alone.
	void started();
	// After the first load: stale links removed, those of layers not known yet
	// deferred. pending: the items not ready then.
	Result<void> afterLoad(int rootFd, const Snapshot &snapshot, const std::vector<PendingItem> &pending);
	// With each batch told: the deferred links of layers whose state it proved.
	// layerTreesTroubled: a layer tree could not be read whole (an unknown layer may
	// only be unreadable, not gone).
	void settle(int rootFd, const std::vector<Event> &events, const Store &store, const Validator &validator,
		    bool layerTreesTroubled);

private:
	std::unordered_map<std::string, std::vector<std::string>> deferred_; // id -> short link names
	std::int64_t startedWallNs_ = INT64_MAX;
};

} // namespace lw

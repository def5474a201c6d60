// The policy's trouble notes as the host is told them.
#include "trouble_events.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace lw {

TroubleTold troubleEvents(const std::vector<TroubleNote> &notes)
{
	TroubleTold told;
	auto &events = told.events;
	auto log = [&](LogLevel level, std::string line) { told.logLines.emplace_back(level, std::move(line)); };
	std::map<int, std::vector<const TroubleNote *>> itemFailures; // by errno
	for (const auto &n : notes) {
		const char *tree = treeName(n.tree);
		switch (n.kind) {
		case TroubleNote::TreeFailed:
			events.push_back({.type = EventType::Error, .tree = n.tree,
					  .message = fmt::format("{}; keeping what was known of {}, trying again", n.message,
								 tree),
					  .code = n.error});
			break;
		case TroubleNote::TreeHealed:
			log(LogLevel::Info, fmt::format("{}: readable again", tree));
			break;
		case TroubleNote::ItemFailed:
			itemFailures[n.error].push_back(&n);
			break;
		case TroubleNote::ItemHealed:
			log(LogLevel::Info, fmt::format("{}/{}: readable again", tree, n.id));
			break;
		case TroubleNote::Stalled:
			events.push_back({.type = EventType::Error, .tree = n.tree,
					  .message = fmt::format("{}: stalled ({}): serving what was known; it is "
								 "rescanned when its server answers",
								 tree, n.message),
					  .code = n.error});
			break;
		case TroubleNote::StallHealed:
			log(LogLevel::Info, fmt::format("{}: answering again: rescanning it", tree));
			events.push_back({.type = EventType::Resync, .resync = ResyncReason::Stalled, .tree = n.tree});
			++told.resyncs;
			break;
		}
	}
	for (const auto &[code, failed] : itemFailures) {
		const TroubleNote &first = *failed.front();
		const char *tree = treeName(first.tree);
		if (failed.size() == 1) {
			events.push_back({.type = EventType::Error, .id = first.id, .tree = first.tree,
					  .message = fmt::format("{}/{}: {}; keeping its last known state, trying again", tree,
								 first.id, first.message),
					  .code = code});
			continue;
		}
		bool oneTree = std::all_of(failed.begin(), failed.end(),
					   [&](const TroubleNote *n) { return n->tree == first.tree; });
		events.push_back({.type = EventType::Error, .tree = oneTree ? std::optional(first.tree) : std::nullopt,
				  .message = fmt::format("{} items could not be read ({}; first {}/{}); keeping their "
							 "last known state, trying again",
							 failed.size(), std::strerror(code), tree, first.id),
				  .code = code});
	}
	return told;
}

} // namespace lw

// What the policy's trouble notes tell the host, as a pure translation: the errors
// and resyncs it is told (each once), and the lines it logs. Items failing alike in
// one read (an fd shortage hits them all) are told as one error, not one each.
#pragma once

#include "policy.h"

#include <layerwatch/events.h>
#include <layerwatch/watcher.h>

#include <string>
#include <utility>
#include <vector>

namespace lw {

struct TroubleTold {
	std::vector<Event> events;
	std::vector<std::pair<LogLevel, std::string>> logLines;
	std::size_t resyncs = 0;
};

TroubleTold troubleEvents(const std::vector<TroubleNote> &notes);

} // namespace lw

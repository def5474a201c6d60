// How `watch` prints one event: a JSON line (DESIGN.md section 6) or a text line.
#pragma once

#include <layerwatch/events.h>

#include <string>

namespace lwcli {

// One JSON object, no newline: event, its fields, ts (Unix ns) and source.
std::string jsonLine(const lw::Event &e);
// "HH:MM:SS.mmm event what (source)", every name, id and reason escaped.
std::string textLine(const lw::Event &e);
// The syslog priority of an event for the journal: error 3, resync 4 (warning),
// pending 5 (notice), the rest 6 (info).
int eventPriority(const lw::Event &e);

} // namespace lwcli

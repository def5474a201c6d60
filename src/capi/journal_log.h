// The iSulad module's log: iSulad runs under systemd, whose journal takes a process's
// stderr and reads a "<N>" prefix on each line as its priority (sd-daemon(3)). Lines
// are "<N>layerwatch: message", one write(2) each, control bytes escaped; at most a
// burst of them per window, then one line saying how many were dropped. The level
// comes from LAYERWATCH_LOG_LEVEL (debug, info, warning, error; warning by default).
#pragma once

#include <layerwatch/watcher.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lw::isulad {

using LogSink = std::function<void(LogLevel, const std::string &)>;

struct JournalLimits {
	unsigned burst = 20;                               // lines per window
	std::chrono::milliseconds window = std::chrono::seconds(10);
};

// Writes to fd (2: stderr). Safe from any thread; the sink keeps its state alive
// (it may be called by a thread that outlives everything else, as at exit).
LogSink journalLog(int fd = 2, LogLevel level = LogLevel::Warning, JournalLimits limits = {});

// LAYERWATCH_LOG_LEVEL's value: none for an unknown word.
std::optional<LogLevel> parseLogLevel(std::string_view text);

} // namespace lw::isulad

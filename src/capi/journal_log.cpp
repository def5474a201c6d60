// Log lines for the journal, through stderr, with a rate limit.
#include "journal_log.h"

#include "sys.h"

#include <fmt/format.h>

#include <memory>
#include <mutex>

namespace lw::isulad {

namespace {

// sd-daemon.h's SD_DEBUG, SD_INFO, SD_WARNING, SD_ERR.
int priority(LogLevel level)
{
	switch (level) {
	case LogLevel::Debug:
		return 7;
	case LogLevel::Info:
		return 6;
	case LogLevel::Warning:
		return 4;
	case LogLevel::Error:
		return 3;
	}
	return 3;
}

// One line, whatever the message holds: a name from the share cannot start a line of
// its own (and a priority of its choosing) in the journal.
std::string line(LogLevel level, std::string_view message)
{
	std::string out = fmt::format("<{}>layerwatch: ", priority(level));
	for (unsigned char c : message) {
		if (c < 0x20 || c == 0x7f)
			out += fmt::format("\\x{:02x}", c);
		else
			out += static_cast<char>(c);
	}
	out += '\n';
	return out;
}

struct Journal {
	int fd = 2;
	LogLevel level = LogLevel::Warning;
	JournalLimits limits;
	std::mutex mutex;
	std::chrono::steady_clock::time_point windowStart{};
	unsigned written = 0;
	unsigned long dropped = 0;

	void put(const std::string &text) const
	{
		// Best effort: a closed stderr loses the line and never fails the caller.
		(void)sys::writeAll(fd, text.data(), text.size());
	}

	void log(LogLevel at, const std::string &message)
	{
		if (at < level)
			return;
		std::lock_guard lock(mutex);
		auto now = std::chrono::steady_clock::now();
		if (now - windowStart >= limits.window) {
			if (dropped)
				put(line(LogLevel::Warning, fmt::format("{} messages dropped by the rate limit ({} per {} s)",
									dropped, limits.burst,
									limits.window.count() / 1000.0)));
			windowStart = now;
			written = 0;
			dropped = 0;
		}
		if (written >= limits.burst) {
			++dropped;
			return;
		}
		++written;
		put(line(at, message));
	}
};

} // namespace

LogSink journalLog(int fd, LogLevel level, JournalLimits limits)
{
	auto journal = std::make_shared<Journal>();
	journal->fd = fd;
	journal->level = level;
	journal->limits = limits;
	return [journal](LogLevel at, const std::string &message) { journal->log(at, message); };
}

std::optional<LogLevel> parseLogLevel(std::string_view text)
{
	if (text == "debug")
		return LogLevel::Debug;
	if (text == "info")
		return LogLevel::Info;
	if (text == "warning" || text == "warn")
		return LogLevel::Warning;
	if (text == "error")
		return LogLevel::Error;
	return std::nullopt;
}

} // namespace lw::isulad

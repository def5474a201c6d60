// What a service manager asks of `watch`: systemd's notify protocol, and log lines
// the journal can rank.
#pragma once

#include <string>
#include <string_view>

namespace lwcli {

// sd_notify(3)'s protocol, in the few lines it takes: one datagram per state change
// to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name": the abstract namespace).
// Without that variable every send does nothing. Not thread-safe; the loop's own.
class SystemdNotifier {
public:
	static SystemdNotifier fromEnvironment();
	bool enabled() const { return !socket_.empty(); }
	// Sends "READY=1", "STATUS=...", "STOPPING=1", "RELOADING=1" (lines joined by
	// '\n'); 0, or -errno (also when $NOTIFY_SOCKET is not a usable address). Never
	// blocks: -EAGAIN when the socket is full (nobody reads it), the message dropped.
	int send(std::string_view state) const;

private:
	std::string socket_;
};

// Where log lines go: stderr, with the kernel's "<N>" priority prefix when stderr is
// connected to the journal ($JOURNAL_STREAM names its device and inode), so that
// `journalctl -p warning` finds them; "layerwatch: " otherwise.
class Log {
public:
	static Log forStderr();
	// Whether fd is the stream $JOURNAL_STREAM names.
	static bool isJournal(int fd);
	// priority: syslog's 0 (emerg) .. 7 (debug). message is escaped by the caller.
	void line(int priority, std::string_view message) const;

private:
	bool journal_ = false;
};

} // namespace lwcli

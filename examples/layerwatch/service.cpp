// systemd's notify protocol and journal priorities.
#include "service.h"
#include "text_out.h"

#include <fmt/format.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lwcli {

SystemdNotifier SystemdNotifier::fromEnvironment()
{
	SystemdNotifier notifier;
	if (const char *path = std::getenv("NOTIFY_SOCKET"))
		notifier.socket_ = path;
	return notifier;
}

int SystemdNotifier::send(std::string_view state) const
{
	if (socket_.empty())
		return 0;
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	// An absolute path, or '@' for a name in the abstract namespace (a leading NUL).
	if ((socket_[0] != '/' && socket_[0] != '@') || socket_.size() > sizeof(address.sun_path))
		return -EINVAL;
	std::memcpy(address.sun_path, socket_.data(), socket_.size());
	if (socket_[0] == '@')
		address.sun_path[0] = '\0';
	auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
	int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	// Never waits: a manager that does not read (stuck, or replaced) must not stop the
	// loop that sends. A full socket gives EAGAIN, and the message is dropped.
	ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
				reinterpret_cast<sockaddr *>(&address), length);
	int err = errno;
	::close(fd);
	return sent < 0 ? -err : 0;
}

Log Log::forStderr()
{
	Log log;
	log.journal_ = isJournal(STDERR_FILENO);
	return log;
}

bool Log::isJournal(int fd)
{
	const char *stream = std::getenv("JOURNAL_STREAM");
	unsigned long long dev = 0, ino = 0;
	struct stat st;
	if (!stream || std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || ::fstat(fd, &st) != 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void Log::line(int priority, std::string_view message) const
{
	writeAll(stderr, journal_ ? fmt::format("<{}>{}\n", priority, message) : fmt::format("layerwatch: {}\n", message));
	std::fflush(stderr);
}

} // namespace lwcli

// What the kernel sources share: paths, and the bounded drain.
#include "event_source.h"

#include <unistd.h>

#include <cerrno>

namespace lw {

std::string sourcePath(const std::string &root, Tree tree, const std::string &id)
{
	std::string path = root + "/" + treeName(tree);
	if (!id.empty())
		path += "/" + id;
	return path;
}

long drainRecords(int fd, std::size_t maxRecords, const SourceOutput &output,
		  const std::function<bool(const char *buffer, std::size_t length, std::size_t &handled)> &parse)
{
	// Room for many records per read: an inotify record is at most its header and
	// NAME_MAX+1, a fanotify one about 400 bytes (a handle and a name).
	alignas(8) char buffer[16 * 1024];
	std::size_t handled = 0;
	while (handled < maxRecords) {
		ssize_t n = ::read(fd, buffer, sizeof(buffer));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		if (!parse(buffer, static_cast<std::size_t>(n), handled))
			for (Tree t : {Tree::Overlay, Tree::Layers, Tree::Images})
				output.stale(t, ResyncReason::ShortRead);
	}
	return static_cast<long>(handled);
}

} // namespace lw

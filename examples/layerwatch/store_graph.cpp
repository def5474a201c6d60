// Reading the writer's view of the store: listings and metadata, no readiness rules.
#include "store_graph.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

namespace lwcli {

namespace {

// An fd that closes itself.
struct Fd {
	int fd = -1;
	explicit Fd(int f) : fd(f) {}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	~Fd()
	{
		if (fd >= 0)
			::close(fd);
	}
};

// Opens a folder below dirfd one plain component at a time, following no link.
int openFolder(int dirfd, std::string_view relpath)
{
	int fd = ::dup(dirfd);
	std::size_t at = 0;
	while (fd >= 0 && at < relpath.size()) {
		auto slash = relpath.find('/', at);
		std::string part(relpath.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at));
		int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		::close(fd);
		errno = err;
		fd = next;
		at = slash == std::string_view::npos ? relpath.size() : slash + 1;
	}
	return fd;
}

// The metadata file name of folder id in dirfd: a regular file reached without a link
// and never a FIFO waited on; "" when it cannot be had.
std::string readMetadata(int dirfd, const std::string &id, std::string_view name)
{
	Fd dir(::openat(dirfd, id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	Fd file(dir.fd < 0 ? -1 : ::openat(dir.fd, std::string(name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
	struct stat st;
	if (file.fd < 0 || ::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode))
		return {};
	std::string text(lw::kMaxJsonBytes + 1, '\0');
	std::size_t got = 0;
	for (ssize_t n; got < text.size() && (n = ::read(file.fd, text.data() + got, text.size() - got)) > 0;)
		got += static_cast<std::size_t>(n);
	text.resize(got);
	return text.size() > lw::kMaxJsonBytes ? std::string() : text;
}

// The ids in a tree (entries that are valid ids); ENOENT gives none.
lw::Result<std::vector<std::string>> listIds(int rootFd, std::string_view tree, Fd &dir)
{
	dir.fd = openFolder(rootFd, tree);
	if (dir.fd < 0) {
		if (errno == ENOENT)
			return std::vector<std::string>{};
		return lw::makeError(errno, fmt::format("{}: {}", tree, std::strerror(errno)));
	}
	DIR *listing = ::fdopendir(::dup(dir.fd));
	if (!listing)
		return lw::makeError(errno, fmt::format("{}: {}", tree, std::strerror(errno)));
	std::vector<std::string> ids;
	errno = 0;
	while (struct dirent *e = ::readdir(listing))
		if (lw::isValidId(e->d_name))
			ids.emplace_back(e->d_name);
	int err = errno;
	::closedir(listing);
	if (err != 0)
		return lw::makeError(err, fmt::format("{}: {}", tree, std::strerror(err)));
	return ids;
}

} // namespace

std::vector<std::string> StoreGraph::chain(const std::string &imageId) const
{
	std::vector<std::string> out;
	auto image = images.find(imageId);
	std::string layer = image == images.end() ? std::string() : image->second.topLayer;
	std::set<std::string> seen;
	while (!layer.empty() && layers.count(layer) && seen.insert(layer).second && out.size() < lw::kMaxChainDepth) {
		out.push_back(layer);
		auto parent = parentOf.find(layer);
		layer = parent == parentOf.end() ? std::string() : parent->second;
	}
	return out;
}

lw::Result<StoreGraph> readStoreGraph(const std::string &root)
{
	Fd rootFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (rootFd.fd < 0)
		return lw::makeError(errno, fmt::format("root {}: {}", root, std::strerror(errno)));
	StoreGraph graph;
	Fd images(-1), layers(-1), overlays(-1);
	auto imageIds = listIds(rootFd.fd, lw::paths::kImages, images);
	auto layerIds = listIds(rootFd.fd, lw::paths::kLayersRO, layers);
	auto overlayIds = listIds(rootFd.fd, lw::paths::kOverlayRO, overlays);
	for (auto *ids : {&imageIds, &layerIds, &overlayIds})
		if (!*ids)
			return ids->error();
	for (const auto &id : *imageIds) {
		auto record = lw::parseImageJson(readMetadata(images.fd, id, lw::paths::kImagesJson));
		graph.images[id] = record ? GraphImage{record->names, record->layer} : GraphImage{};
	}
	for (const auto &id : *layerIds) {
		graph.layers.insert(id);
		if (auto record = lw::parseLayerJson(readMetadata(layers.fd, id, lw::paths::kLayerJson)))
			graph.parentOf[id] = record->parent;
	}
	graph.layers.insert(overlayIds->begin(), overlayIds->end());
	return graph;
}

} // namespace lwcli

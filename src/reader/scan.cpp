// One read-only validation of a whole store.
#include <layerwatch/scan.h>

#include "reconciler.h"
#include "root.h"
#include "safe_fs.h"
#include "store_state.h"
#include "sys.h"

#include <fmt/format.h>

#include <fcntl.h>

#include <cstring>

namespace lw {

Result<UniqueFd> openRoot(const std::string &root)
{
	if (root.empty())
		return makeError(EINVAL, "root: empty path");
	int fd = sys::openAt(AT_FDCWD, root.c_str(), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return makeError(-fd, fmt::format("root {}: {}", root, fs::describeErrno(-fd)));
	return UniqueFd(fd);
}

Result<ScanReport> scanStore(const std::string &root)
{
	auto rootFd = openRoot(root);
	if (!rootFd)
		return rootFd.error();
	Store store;
	Reconciler reconciler(rootFd->get(), store, {.commitLinks = false});
	ScanReport report;
	for (auto &event : reconciler.rescan())
		if (event.type == EventType::Error) {
			// The errno's name too: what an operator searches for.
			const char *name = event.code ? ::strerrorname_np(event.code) : nullptr;
			report.errors.push_back(name ? fmt::format("{} ({})", event.message, name) : std::move(event.message));
		}
	Snapshot snapshot = store.snapshot();
	for (auto &image : snapshot.images()) {
		auto chain = snapshot.chain(image->id);
		report.images.push_back({std::move(image), std::move(chain)});
	}
	report.layers = snapshot.layers();
	report.pending = reconciler.pending();
	return report;
}

} // namespace lw

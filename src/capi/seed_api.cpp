// The seed's interface (remote RO design, section 3) and iSulad's shipped one
// (remote_layer_support/: ro_symlink_maintain.h, remote_support.h), which share the
// homes they name and the refresh thread. Each function is a boundary that no
// exception crosses.
#include <layerwatch/isulad.h>
#include <layerwatch/layerwatch.h>

#include "c_support.h"
#include "fs_write.h"
#include "isulad_hooks.h"
#include "local_links.h"
#include "safe_fs.h"
#include "sys.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>
#include <layerwatch/watcher.h>

#include <fcntl.h>

#include <cstdlib>

#include <mutex>
#include <string>

namespace {

using lw::capi::guarded;

// ---- the seed's state: two homes and one refresh thread ----

struct SeedState {
	std::mutex mutex;
	std::string layerHome, overlayHome, imageHome;
	std::unique_ptr<lw::Watcher> refresh;
	// iSulad's refresh: its hooks, called for what the watcher reports. Shared with
	// the watcher's callback, which may run until the watcher is joined.
	std::shared_ptr<lw::isulad::HookCaller> hooks;
};

SeedState &seed()
{
	static SeedState state;
	return state;
}

std::string withoutTrailingSlashes(std::string path)
{
	while (path.size() > 1 && path.back() == '/')
		path.pop_back();
	return path;
}

std::string parentOf(const std::string &path)
{
	auto slash = path.rfind('/');
	if (slash == std::string::npos)
		return ".";
	return slash == 0 ? "/" : path.substr(0, slash);
}

int setHome(std::string SeedState::*home, const char *dir)
{
	return guarded([&] {
		if (!dir || !*dir)
			return -EINVAL;
		std::string path = withoutTrailingSlashes(dir);
		auto made = lw::fs::makeDirs(AT_FDCWD, path + "/" + std::string(lw::paths::kRO));
		if (!made)
			return lw::capi::failed(made.error());
		std::lock_guard lock(seed().mutex);
		seed().*home = path;
		return 0;
	});
}

// What iSulad may pass as an id: one plain path component (its own unit test builds
// "foo"), never "." or "..", nothing with a slash.
bool isSafeComponent(std::string_view id)
{
	return !id.empty() && id.size() <= 255 && id != "." && id != ".." && id.find('/') == std::string_view::npos;
}

// Opens an initialised home for a valid id: 0, or -EINVAL / -errno.
int openHome(std::string SeedState::*home, const char *id, lw::UniqueFd &out)
{
	std::string path;
	{
		std::lock_guard lock(seed().mutex);
		path = seed().*home;
	}
	if (path.empty() || !id || !isSafeComponent(id))
		return -EINVAL; // not initialised, or not one plain name
	int fd = lw::sys::openAt(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	out.reset(fd);
	return 0;
}

// home/RO/<id> (empty) and home/<id> -> RO/<id>, as iSulad's build_ro_dir does, but
// with a relative link made atomically.
int buildRoDir(std::string SeedState::*home, const char *id)
{
	return guarded([&] {
		lw::UniqueFd homeFd;
		if (int r = openHome(home, id, homeFd); r < 0)
			return r;
		auto ro = lw::fs::makeDirs(homeFd.get(), std::string(lw::paths::kRO) + "/" + id);
		if (!ro)
			return lw::capi::failed(ro.error());
		auto linked = lw::fs::symlinkAtomic(homeFd.get(), id, lw::paths::roTarget(id), false);
		if (!linked) {
			auto existing = lw::fs::readLink(homeFd.get(), id);
			if (existing && lw::links::pointsIntoRO(*existing, id))
				return 0; // already there
			return lw::capi::failed(linked.error());
		}
		return 0;
	});
}

// Removes home/<id> if it links into RO/, then home/RO/<id>.
int removeRoDir(std::string SeedState::*home, const char *id)
{
	return guarded([&] {
		lw::UniqueFd homeFd;
		if (int r = openHome(home, id, homeFd); r < 0)
			return r;
		auto target = lw::fs::readLink(homeFd.get(), id);
		if (target && lw::links::pointsIntoRO(*target, id))
			if (int r = lw::sys::unlinkAt(homeFd.get(), id, 0); r < 0 && r != -ENOENT)
				return r;
		auto ro = lw::fs::openDir(homeFd.get(), lw::paths::kRO);
		if (!ro)
			return ro.error().code == ENOENT ? 0 : -ro.error().code;
		auto removed = lw::fs::removeAtomically(ro->get(), id);
		if (!removed && removed.error().code != ENOENT)
			return lw::capi::failed(removed.error());
		return 0;
	});
}

// Starts the refresh watcher on the storage root the homes share, its events going to
// onEvent (none: the seed's refresh, links only).
int startRefresh(std::function<void(const lw::Event &)> onEvent, std::shared_ptr<lw::isulad::HookCaller> hooks)
{
	std::lock_guard lock(seed().mutex);
	auto &s = seed();
	if (s.refresh)
		return -EALREADY;
	if (s.layerHome.empty() || s.overlayHome.empty())
		return -EINVAL; // call the init functions first
	std::string root = parentOf(s.layerHome);
	if (parentOf(s.overlayHome) != root || (!s.imageHome.empty() && parentOf(s.imageHome) != root))
		return -EINVAL; // the homes must share one storage root
	// The seed's and iSulad's init functions take no options: the one choice a host
	// may need (inotify on a root filesystem busy with containers, where fanotify's
	// filesystem-wide mark costs ~9 µs per foreign event) comes from the environment.
	lw::WatcherOptions options{.root = root};
	if (const char *mode = std::getenv("LAYERWATCH_MODE"); mode && *mode && !lw::parseWatchMode(mode, options.mode))
		return lw::capi::failed(lw::makeError(
			EINVAL, std::string("LAYERWATCH_MODE=") + mode + ": takes auto, inotify, fanotify or poll"));
	auto watcher = lw::Watcher::create(options, std::move(onEvent));
	if (!watcher)
		return lw::capi::failed(watcher.error());
	if (auto r = (*watcher)->start(); !r)
		return lw::capi::failed(r.error());
	s.refresh = std::move(*watcher);
	s.hooks = std::move(hooks);
	return 0;
}

} // namespace

// iSulad's store hooks. Weak: a host that is not iSulad links without them (and
// remote_start_refresh_thread then says ENOSYS); iSulad's definitions, in its
// executable, are exported to the library because the library refers to them.
extern "C" {
__attribute__((weak)) int remote_load_one_layer(const char *id);
__attribute__((weak)) int remote_layer_remove_memory_stores_with_lock(const char *id);
__attribute__((weak)) int remote_append_image_by_directory_with_lock(const char *id);
__attribute__((weak)) int remote_remove_image_from_memory_with_lock(const char *id);
}

extern "C" {

int remote_layer_init(const char *root_dir)
{
	return setHome(&SeedState::layerHome, root_dir);
}

int remote_overlay_init(const char *driver_home)
{
	return setHome(&SeedState::overlayHome, driver_home);
}

int remote_image_init(const char *root_dir)
{
	return guarded([&] {
		if (!root_dir || !*root_dir)
			return -EINVAL;
		std::lock_guard lock(seed().mutex);
		seed().imageHome = withoutTrailingSlashes(root_dir);
		return 0;
	});
}

void remote_maintain_cleanup(void)
{
	(void)guarded([] {
		std::unique_ptr<lw::Watcher> refresh;
		std::shared_ptr<lw::isulad::HookCaller> hooks;
		{
			std::lock_guard lock(seed().mutex);
			refresh = std::move(seed().refresh);
			hooks = std::move(seed().hooks);
			seed().layerHome.clear();
			seed().overlayHome.clear();
			seed().imageHome.clear();
		}
		if (refresh) {
			refresh->stop();
			refresh->join();
		}
		// The watcher is joined: no event comes any more; the caller stops after the
		// call in progress, if any (what is queued is not called).
		return 0;
	});
}

int start_refresh_thread(void)
{
	return guarded([] { return startRefresh(nullptr, nullptr); });
}

int remote_start_refresh_thread(pthread_rwlock_t *remote_lock)
{
	return guarded([&] {
		if (!remote_lock)
			return -EINVAL;
		lw::isulad::Hooks hooks{remote_load_one_layer, remote_layer_remove_memory_stores_with_lock,
					remote_append_image_by_directory_with_lock,
					remote_remove_image_from_memory_with_lock};
		if (!hooks.complete())
			return -ENOSYS; // not iSulad: its store hooks are not there
		auto caller = std::make_shared<lw::isulad::HookCaller>(hooks, remote_lock, [](const std::string &) {});
		return startRefresh([caller](const lw::Event &e) { caller->onEvent(e); }, caller);
	});
}

int remote_layer_build_ro_dir(const char *id)
{
	return buildRoDir(&SeedState::layerHome, id);
}

int remote_overlay_build_ro_dir(const char *id)
{
	return buildRoDir(&SeedState::overlayHome, id);
}

int remote_layer_remove_ro_dir(const char *id)
{
	return removeRoDir(&SeedState::layerHome, id);
}

int remote_overlay_remove_ro_dir(const char *id)
{
	return removeRoDir(&SeedState::overlayHome, id);
}

} // extern "C"

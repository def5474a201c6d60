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
#include "root.h"
#include "safe_fs.h"
#include "sys.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>
#include <layerwatch/watcher.h>

#include <fcntl.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include <mutex>
#include <string>

namespace {

using lw::capi::guarded;

// ---- the seed's state: two homes and one refresh thread ----

// How long remote_maintain_cleanup() waits for a hook call in progress.
constexpr std::chrono::milliseconds kHookStopWait{1500};

struct SeedState {
	std::mutex mutex;
	std::string layerHome, overlayHome, imageHome; // resolved (resolveTrustedPath)
	std::unique_ptr<lw::Watcher> refresh;
	// iSulad's refresh: its hooks, called for what the watcher reports. Shared with
	// the watcher's callback, which may run until the watcher is joined.
	std::shared_ptr<lw::isulad::HookCaller> hooks;
};

// Never destroyed: iSulad exits without remote_maintain_cleanup() (oci_exit ->
// storage_module_exit never calls it), and exit() must not wait for our threads, as
// a destructor that joined them would (a hook waiting for the lock a pull holds, or
// a hook that called exit() itself). Upstream's thread is detached; so are ours.
SeedState &seed()
{
	static SeedState &state = *new SeedState;
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

// home's path resolved (its symlinks are the operator's), or -errno with why.
int resolveHome(const char *dir, std::string &out)
{
	if (!dir || !*dir)
		return lw::capi::failed(lw::makeError(EINVAL, "no path given"));
	auto resolved = lw::fs::resolveTrustedPath(withoutTrailingSlashes(dir));
	if (!resolved)
		return lw::capi::failed(resolved.error());
	out = std::move(*resolved);
	return 0;
}

int setHome(std::string SeedState::*home, const char *dir)
{
	return guarded([&] {
		std::string path;
		if (int r = resolveHome(dir, path); r < 0)
			return r;
		// Below the resolved home, no symlink is taken (makeDirs refuses one).
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
	if (path.empty())
		return lw::capi::failed(lw::makeError(EINVAL, "not initialised: call the init functions first"));
	if (!id || !isSafeComponent(id))
		return lw::capi::failed(lw::makeError(EINVAL, "an id is one plain path component"));
	int fd = lw::sys::openAt(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0)
		return lw::capi::failed(lw::makeError(-fd, path + ": " + lw::fs::describeErrno(-fd)));
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

// The module's log: the journal, through stderr, at LAYERWATCH_LOG_LEVEL.
lw::Result<lw::isulad::LogSink> moduleLog()
{
	lw::LogLevel level = lw::LogLevel::Warning;
	if (const char *text = std::getenv("LAYERWATCH_LOG_LEVEL"); text && *text) {
		auto parsed = lw::isulad::parseLogLevel(text);
		if (!parsed)
			return lw::makeError(EINVAL, std::string("LAYERWATCH_LOG_LEVEL=") + text +
							     ": takes debug, info, warning or error");
		level = *parsed;
	}
	return lw::isulad::journalLog(2, level);
}

// How often a failing hook is called again: upstream's refresh period, 5 s, unless
// LAYERWATCH_HOOK_RETRY_MS says otherwise.
lw::Result<lw::isulad::HookTiming> hookTiming()
{
	lw::isulad::HookTiming timing;
	if (const char *text = std::getenv("LAYERWATCH_HOOK_RETRY_MS"); text && *text) {
		char *end = nullptr;
		errno = 0;
		unsigned long ms = std::strtoul(text, &end, 10);
		if (errno || *end || !std::isdigit(static_cast<unsigned char>(*text)) || ms < 100 || ms > 3600000)
			return lw::makeError(EINVAL, std::string("LAYERWATCH_HOOK_RETRY_MS=") + text +
							     ": takes milliseconds from 100 to 3600000");
		timing.retry = std::chrono::milliseconds(ms);
	}
	return timing;
}

// How the refresh runs: the seed's makes the links itself on its loop and logs
// nothing; iSulad's leaves the links to the hook thread (under iSulad's lock), keeps
// what iSulad loaded at start, is told of items gone before they were ever ready,
// and logs to the journal.
struct RefreshKind {
	std::function<void(const lw::Event &)> onEvent;
	std::shared_ptr<lw::isulad::HookCaller> hooks;
	lw::isulad::LogSink log;
};

// The storage root the homes share, or -EINVAL with why.
int storageRoot(const SeedState &s, std::string &root)
{
	if (s.layerHome.empty() || s.overlayHome.empty())
		return lw::capi::failed(lw::makeError(
			EINVAL, "remote_layer_init and remote_overlay_init must be called first"));
	root = parentOf(s.layerHome);
	for (const std::string *home : {&s.overlayHome, &s.imageHome})
		if (!home->empty() && parentOf(*home) != root)
			return lw::capi::failed(lw::makeError(
				EINVAL, "the homes must share one storage root: " + *home + " is not in " + root));
	return 0;
}

// The storage root, as the init functions named it.
int currentRoot(std::string &root)
{
	std::lock_guard lock(seed().mutex);
	return storageRoot(seed(), root);
}

// Starts the refresh watcher on the storage root the homes share.
int startRefresh(RefreshKind kind)
{
	std::lock_guard lock(seed().mutex);
	auto &s = seed();
	if (s.refresh)
		return lw::capi::failed(lw::makeError(EALREADY, "the refresh thread runs already"));
	std::string root;
	if (int r = storageRoot(s, root); r < 0)
		return r;
	// The seed's and iSulad's init functions take no options: the one choice a host
	// may need (inotify on a root filesystem busy with containers, where fanotify's
	// filesystem-wide mark costs ~9 µs per foreign event) comes from the environment.
	lw::WatcherOptions options{.root = root};
	if (const char *mode = std::getenv("LAYERWATCH_MODE"); mode && *mode && !lw::parseWatchMode(mode, options.mode))
		return lw::capi::failed(lw::makeError(
			EINVAL, std::string("LAYERWATCH_MODE=") + mode + ": takes auto, inotify, fanotify or poll"));
	if (kind.hooks) {
		options.commitLinks = false;
		options.removeDanglingLinks = true;
		options.tellGone = true;
	}
	options.log = kind.log;
	auto watcher = lw::Watcher::create(options, std::move(kind.onEvent));
	if (!watcher)
		return lw::capi::failed(watcher.error());
	if (auto r = (*watcher)->start(); !r)
		return lw::capi::failed(r.error());
	s.refresh = std::move(*watcher);
	s.hooks = std::move(kind.hooks);
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
		std::string path;
		if (int r = resolveHome(root_dir, path); r < 0)
			return r;
		std::lock_guard lock(seed().mutex);
		seed().imageHome = path;
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
		// The watcher is joined: no event comes any more. The hook thread stops after
		// the call in progress (what is queued is not called); a hook that does not
		// return in time is left to end on its own, the thread with it. Called from a
		// hook, or with iSulad's lock held, this returns as promptly.
		if (hooks && !hooks->stop(kHookStopWait))
			lw::capi::lastError() = "a hook call still runs: its thread ends once it returns";
		return 0;
	});
}

int start_refresh_thread(void)
{
	// The seed's host set no sink: nothing is printed (DESIGN.md section 5).
	return guarded([] { return startRefresh({}); });
}

int remote_start_refresh_thread(pthread_rwlock_t *remote_lock)
{
	return guarded([&] {
		if (!remote_lock)
			return lw::capi::failed(lw::makeError(EINVAL, "no lock given"));
		lw::isulad::Hooks hooks{remote_load_one_layer, remote_layer_remove_memory_stores_with_lock,
					remote_append_image_by_directory_with_lock,
					remote_remove_image_from_memory_with_lock};
		if (!hooks.complete())
			return lw::capi::failed(lw::makeError(
				ENOSYS, "iSulad's store hooks are not defined: the host is not iSulad"));
		auto log = moduleLog();
		if (!log)
			return lw::capi::failed(log.error());
		auto timing = hookTiming();
		if (!timing)
			return lw::capi::failed(timing.error());
		std::string root;
		if (int r = currentRoot(root); r < 0)
			return r;
		auto rootFd = lw::openRoot(root);
		if (!rootFd)
			return lw::capi::failed(rootFd.error());
		auto caller =
			std::make_shared<lw::isulad::HookCaller>(hooks, remote_lock, std::move(*rootFd), *log, *timing);
		return startRefresh({[caller](const lw::Event &e) { caller->onEvent(e); }, caller, *log});
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

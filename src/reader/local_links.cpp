// The local links of RO layers: create if missing, remove only links into RO/.
#include "local_links.h"

#include "identity.h"

#include "fs_write.h"
#include "safe_fs.h"
#include "sys.h"
#include "text.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>

#include <fmt/format.h>

#include <fcntl.h>

#include <functional>
#include <set>
#include <vector>

namespace lw::links {

namespace {

// The id a short link's target names: "../<id>/diff", or ".../overlay/<id>/diff".
std::string shortLinkId(std::string_view target)
{
	constexpr std::string_view kTail = "/diff";
	if (!target.ends_with(kTail))
		return {};
	target.remove_suffix(kTail.size());
	auto slash = target.rfind('/');
	if (slash == std::string_view::npos)
		return {};
	std::string_view id = target.substr(slash + 1);
	std::string_view before = target.substr(0, slash);
	if (!isValidId(id) || !(before == ".." || before.ends_with("/overlay")))
		return {};
	return std::string(id);
}

// Whether dirfd/name is a link into RO/ named for its id: an RO layer's (a
// container's own layer is a folder, never ours).
bool linksIntoRO(int dirfd, const std::string &id)
{
	auto target = fs::readLink(dirfd, id);
	return target && pointsIntoRO(*target, id);
}

// Whether dirfd/name, a temporary of ours cut short by a kill, may go: a link into RO/
// in overlay/ and overlay-layers/, to an RO layer's diff in l/. Anyone else's stays.
bool ourLeftover(int dirfd, const std::string &name, bool shortLinks)
{
	auto target = fs::readLink(dirfd, name);
	return target && (shortLinks ? !shortLinkId(*target).empty() : target->starts_with("RO/"));
}

// Whether an existing link may be replaced: always for overlay/<id> and
// overlay-layers/<id> (their name is the id), only when it is an RO layer's for l/.
using MayReplace = std::function<bool(std::string_view existing)>;

// Makes dirfd/name -> target unless a link that names the same RO item is there
// (accepts says which). Nothing is looked up on the shared side: a commit is local
// work only, which a stalled share cannot hold up.
Result<void> ensureLink(int dirfd, std::string_view where, const std::string &name, const std::string &target,
			bool (*accepts)(std::string_view existing, std::string_view id), std::string_view id,
			const MayReplace &mayReplace = {})
{
	for (int attempt = 0; attempt < 3; ++attempt) {
		struct stat st;
		int r = fs::statEntry(dirfd, name, &st);
		if (r == -ENOENT) {
			auto made = fs::symlinkAtomic(dirfd, name, target, false);
			if (made || made.error().code != EEXIST)
				return made;
			continue; // made by someone else meanwhile: look again
		}
		if (r < 0)
			return makeError(-r, fmt::format("{}/{}: {}", where, name, fs::describeErrno(-r)));
		if (!S_ISLNK(st.st_mode))
			return makeError(EEXIST, fmt::format("{}/{}: exists and is not a link", where, name));
		auto current = fs::readLink(dirfd, name);
		if (current && (*current == target || accepts(*current, id)))
			return {}; // ours, or an absolute one iSulad wrote: correct, keep it
		if (current && mayReplace && !mayReplace(*current))
			return makeError(EEXIST, fmt::format("{}/{}: taken by a link that is not an RO layer's (-> {})", where,
							     name, quoteForMessage(*current)));
		// A stale or wrong link: replace it in one step, never leaving the name empty.
		return fs::symlinkAtomic(dirfd, name, target, true);
	}
	return makeError(EAGAIN, fmt::format("{}/{}: keeps changing", where, name));
}

Result<void> unlinkIf(int dirfd, std::string_view where, const std::string &name, bool (*wanted)(std::string_view, std::string_view), std::string_view id)
{
	auto target = fs::readLink(dirfd, name);
	if (!target)
		return {}; // missing, or not a link: not ours
	if (!wanted(*target, id))
		return {};
	if (int r = sys::unlinkAt(dirfd, name.c_str(), 0); r < 0 && r != -ENOENT)
		return makeError(-r, fmt::format("{}/{}: {}", where, name, fs::describeErrno(-r)));
	return {};
}

bool shortLinkNames(std::string_view target, std::string_view id)
{
	return shortLinkId(target) == id;
}

// The three local folders. With create, missing ones are made (they are local, and a
// fresh reader host may lack overlay/l); without it, a missing one stays invalid.
struct LocalDirs {
	UniqueFd overlay, layers, shortLinks;
};

Result<LocalDirs> openLocalDirs(int rootFd, bool create)
{
	LocalDirs d;
	for (auto [fd, path] : {std::pair{&d.overlay, paths::kOverlay}, {&d.layers, paths::kLayers},
				{&d.shortLinks, paths::kLinks}}) {
		auto opened = create ? fs::makeDirs(rootFd, path) : fs::openDir(rootFd, path);
		if (opened)
			*fd = std::move(*opened);
		else if (create || opened.error().code != ENOENT)
			return opened.error();
	}
	return d;
}

} // namespace

bool pointsIntoRO(std::string_view target, std::string_view id)
{
	std::string tail = "RO/" + std::string(id);
	return target == tail || target.ends_with("/" + tail);
}

Result<void> create(int rootFd, std::string_view id, std::string_view link)
{
	if (!isValidId(id) || !isValidLinkName(link))
		return makeError(EINVAL, fmt::format("bad id or link name for {}", id));
	auto dirs = openLocalDirs(rootFd, true);
	if (!dirs)
		return dirs.error();
	std::string ident(id);
	if (auto r = ensureLink(dirs->overlay.get(), paths::kOverlay, ident, paths::roTarget(id), pointsIntoRO, id); !r)
		return r;
	if (auto r = ensureLink(dirs->layers.get(), paths::kLayers, ident, paths::roTarget(id), pointsIntoRO, id); !r)
		return r;
	// After overlay/<id>, because the short link resolves through it. A short link
	// already there is replaced only if it is another RO layer's (../<other>/diff with
	// overlay/<other> a link into RO/): the validator gives a link to one ready layer
	// at a time, so that one is a leftover. A container's own link, or anything else
	// we did not make, is never touched.
	int overlayFd = dirs->overlay.get();
	auto roLayersLink = [overlayFd](std::string_view existing) {
		std::string other = shortLinkId(existing);
		return !other.empty() && linksIntoRO(overlayFd, other);
	};
	return ensureLink(dirs->shortLinks.get(), paths::kLinks, std::string(link), paths::shortLinkTarget(id),
			  shortLinkNames, id, roLayersLink);
}

Result<void> remove(int rootFd, std::string_view id, std::string_view link)
{
	std::vector<std::string> names;
	if (isValidLinkName(link)) {
		names.emplace_back(link);
	} else if (auto dirs = openLocalDirs(rootFd, false); dirs && dirs->shortLinks.valid()) {
		// The link name is unknown (its overlay is gone): find it by its target.
		if (auto entries = fs::listDir(dirs->shortLinks.get()))
			for (auto &e : *entries)
				if (isValidLinkName(e.name))
					names.push_back(std::move(e.name));
	}
	return remove(rootFd, id, names);
}

Result<void> remove(int rootFd, std::string_view id, const std::vector<std::string> &shortLinks)
{
	if (!isValidId(id))
		return makeError(EINVAL, fmt::format("bad id {}", id));
	auto dirs = openLocalDirs(rootFd, false);
	if (!dirs)
		return dirs.error();
	std::string ident(id);
	if (dirs->shortLinks.valid())
		for (const auto &name : shortLinks)
			if (isValidLinkName(name))
				if (auto r = unlinkIf(dirs->shortLinks.get(), paths::kLinks, name, shortLinkNames, id); !r)
					return r;
	if (dirs->overlay.valid())
		if (auto r = unlinkIf(dirs->overlay.get(), paths::kOverlay, ident, pointsIntoRO, id); !r)
			return r;
	if (dirs->layers.valid())
		return unlinkIf(dirs->layers.get(), paths::kLayers, ident, pointsIntoRO, id);
	return {};
}

void removeOtherShortLinks(int rootFd, const std::string &id, const std::string &link,
			   const std::vector<std::string> &names)
{
	auto dirs = openLocalDirs(rootFd, false);
	if (!dirs || !dirs->shortLinks.valid())
		return;
	for (const auto &name : names)
		if (name != link)
			(void)unlinkIf(dirs->shortLinks.get(), paths::kLinks, name, shortLinkNames, id);
}

Result<std::size_t> removeStaleLinks(int rootFd, const std::function<LayerState(const std::string &id)> &stateOf,
				     std::unordered_map<std::string, std::vector<std::string>> &deferred,
				     std::int64_t madeBeforeNs)
{
	auto dirs = openLocalDirs(rootFd, false);
	if (!dirs)
		return dirs.error();
	if (!dirs->overlay.valid())
		return std::size_t{0};
	// Made since the reader started: someone's work in progress, never a leftover.
	auto madeNow = [&](int dirfd, const std::string &name) {
		FileId made = statId(dirfd, name);
		return (made.btimeNs ? made.btimeNs : made.ctimeNs) >= madeBeforeNs;
	};
	// An RO layer's state: only ids whose overlay/<id> is a link into RO/ (a
	// container's own layer is a folder, never ours).
	auto roState = [&](const std::string &id) -> std::optional<LayerState> {
		if (!linksIntoRO(dirs->overlay.get(), id) || madeNow(dirs->overlay.get(), id))
			return std::nullopt;
		return stateOf(id);
	};
	std::size_t removed = 0;
	auto unlinkOne = [&](int dirfd, const std::string &name) {
		if (sys::unlinkAt(dirfd, name.c_str(), 0) == 0)
			++removed;
	};
	// Temporaries of ours cut short by a kill (symlinkAtomic's), in all three folders;
	// one made since the reader started is a live one (a build_ro_dir now), whose
	// rename must find it.
	for (auto [dirfd, shortLinks] : {std::pair{dirs->overlay.get(), false}, {dirs->layers.get(), false},
					 {dirs->shortLinks.get(), true}}) {
		if (dirfd < 0)
			continue;
		auto entries = fs::listDir(dirfd);
		if (!entries)
			return entries.error();
		for (const auto &e : *entries)
			if (e.name.starts_with(".tmp-") && ourLeftover(dirfd, e.name, shortLinks) &&
			    !madeNow(dirfd, e.name))
				unlinkOne(dirfd, e.name);
	}
	// Short links next, while overlay/<id> still says whose they are.
	if (dirs->shortLinks.valid()) {
		auto entries = fs::listDir(dirs->shortLinks.get());
		if (!entries)
			return entries.error();
		for (const auto &e : *entries) {
			auto target = fs::readLink(dirs->shortLinks.get(), e.name);
			std::string id = target ? shortLinkId(*target) : std::string();
			if (id.empty() || !isValidLinkName(e.name))
				continue;
			auto state = roState(id);
			if (!state)
				continue; // not an RO layer's: never ours to touch
			if (state->kind == LayerState::NotReady || (state->kind == LayerState::Ready && state->link != e.name))
				unlinkOne(dirs->shortLinks.get(), e.name);
			else if (state->kind == LayerState::Unknown)
				deferred[id].push_back(e.name);
		}
	}
	std::vector<std::string> notReady;
	auto entries = fs::listDir(dirs->overlay.get());
	if (!entries)
		return entries.error();
	for (const auto &e : *entries) {
		if (!isValidId(e.name))
			continue;
		auto state = roState(e.name);
		if (state && state->kind == LayerState::NotReady)
			notReady.push_back(e.name);
		else if (state && state->kind == LayerState::Unknown)
			deferred.try_emplace(e.name); // its links, if it proves not ready
	}
	for (const auto &id : notReady) {
		if (dirs->layers.valid() && linksIntoRO(dirs->layers.get(), id))
			unlinkOne(dirs->layers.get(), id);
		unlinkOne(dirs->overlay.get(), id);
	}
	return removed;
}

Result<std::size_t> removeDangling(int rootFd)
{
	auto dirs = openLocalDirs(rootFd, false);
	if (!dirs)
		return dirs.error();
	// A link into RO/ whose target is gone. stat follows it; only ENOENT counts, so a
	// slow or failing mount never makes us delete a link.
	auto danglingIntoRO = [](int dirfd, const std::string &name) {
		if (!isValidId(name))
			return false;
		auto target = fs::readLink(dirfd, name);
		if (!target || !pointsIntoRO(*target, name))
			return false;
		struct stat st;
		return sys::fstatAt(dirfd, name.c_str(), &st, 0) == -ENOENT;
	};
	std::set<std::string> overlayGone, layersGone;
	for (auto [dirfd, gone] : {std::pair{dirs->overlay.get(), &overlayGone}, {dirs->layers.get(), &layersGone}}) {
		if (dirfd < 0)
			continue;
		auto entries = fs::listDir(dirfd);
		if (!entries)
			return entries.error();
		// RO/ listed once: a link whose id it names is not dangling. On a network share
		// that is one round trip, where a look through every link was one each, one
		// after the other (20 000 links: seconds before the load began). The look
		// stays the judge of what the listing lacks; unlistable, every link is looked at.
		std::set<std::string> listed;
		if (auto ro = fs::openDir(dirfd, paths::kRO))
			if (auto roEntries = fs::listDir(ro->get()))
				for (auto &e : *roEntries)
					listed.insert(std::move(e.name));
		for (const auto &e : *entries)
			if ((e.type == DT_LNK || e.type == DT_UNKNOWN) && !listed.count(e.name))
				if (danglingIntoRO(dirfd, e.name))
					gone->insert(e.name);
	}

	std::size_t removed = 0;
	auto unlinkOne = [&](int dirfd, const std::string &name) {
		if (sys::unlinkAt(dirfd, name.c_str(), 0) == 0)
			++removed;
	};
	// Short links first: only those that lead through an overlay/<id> we remove.
	auto shortLinks = dirs->shortLinks.valid() ? fs::listDir(dirs->shortLinks.get())
						   : Result<std::vector<fs::DirEntry>>(std::vector<fs::DirEntry>{});
	if (!shortLinks)
		return shortLinks.error();
	for (const auto &e : *shortLinks) {
		if (!isValidLinkName(e.name))
			continue;
		auto target = fs::readLink(dirs->shortLinks.get(), e.name);
		if (target && overlayGone.count(shortLinkId(*target)))
			unlinkOne(dirs->shortLinks.get(), e.name);
	}
	for (const auto &name : overlayGone)
		unlinkOne(dirs->overlay.get(), name);
	for (const auto &name : layersGone)
		unlinkOne(dirs->layers.get(), name);
	return removed;
}

} // namespace lw::links

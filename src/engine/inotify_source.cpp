// The inotify backend: watches, a bounded drain, and records to "id may have changed".
#include "inotify_source.h"

#include <layerwatch/model.h>

#include <fmt/format.h>

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lw {

namespace {

// Entries of a tree come and go by create, delete and rename (writers rename folders
// into place); the tree folder itself may be deleted, moved or unmounted.
constexpr std::uint32_t kTreeMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
				    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
// Inside an item folder: files written, replaced, removed.
constexpr std::uint32_t kItemMask = IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
				    IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW;

} // namespace

bool parseInotifyRecords(const char *buffer, std::size_t length,
			 const std::function<void(const InotifyRecord &)> &onRecord)
{
	std::size_t offset = 0;
	while (offset < length) {
		if (length - offset < sizeof(struct inotify_event))
			return false;
		struct inotify_event header;
		std::memcpy(&header, buffer + offset, sizeof(header)); // the buffer need not be aligned
		std::size_t total = sizeof(header) + header.len;
		if (header.len > length - offset - sizeof(header))
			return false;
		const char *name = buffer + offset + sizeof(header);
		// The name is NUL-padded; take it up to the first NUL, within len.
		std::size_t nameLength = header.len ? strnlen(name, header.len) : 0;
		onRecord({header.wd, header.mask, header.cookie, std::string_view(name, nameLength)});
		offset += total;
	}
	return true;
}

Result<std::unique_ptr<InotifySource>> InotifySource::open(std::string root, InotifyOutput output)
{
	int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return makeError(errno, fmt::format("inotify_init1: {}", std::strerror(errno)));
	return std::unique_ptr<InotifySource>(new InotifySource(std::move(root), std::move(output), fd));
}

InotifySource::InotifySource(std::string root, InotifyOutput output, int fd)
	: root_(std::move(root)), output_(std::move(output)), fd_(fd)
{
}

std::string InotifySource::pathOf(Tree tree, const std::string &id) const
{
	return sourcePath(root_, tree, id);
}

Result<void> InotifySource::watchTree(Tree tree)
{
	std::string path = pathOf(tree, {});
	int wd = ::inotify_add_watch(fd_.get(), path.c_str(), kTreeMask);
	if (wd < 0)
		return makeError(errno, fmt::format("watch {}: {}", treeName(tree), std::strerror(errno)));
	treeWds_[static_cast<int>(tree)] = wd;
	byWd_[wd] = {tree, std::nullopt};
	return {};
}

Result<void> InotifySource::watchItem(Tree tree, const std::string &id)
{
	auto parsed = Id::parse(id);
	if (!parsed)
		return makeError(EINVAL, "not an id: " + id);
	if (itemWatched(tree, id))
		return {};
	std::string path = pathOf(tree, id);
	int wd = ::inotify_add_watch(fd_.get(), path.c_str(), kItemMask);
	if (wd < 0)
		return makeError(errno, fmt::format("watch {}/{}: {}", treeName(tree), id, std::strerror(errno)));
	// The same folder twice (a hard-linked path) returns the same wd: keep one owner.
	if (auto it = byWd_.find(wd); it != byWd_.end() && it->second.id != parsed)
		return {};
	itemWds_[static_cast<int>(tree)][*parsed] = wd;
	byWd_[wd] = {tree, *parsed};
	++itemCounts_[static_cast<int>(tree)];
	return {};
}

void InotifySource::unwatchItem(Tree tree, const std::string &id)
{
	auto parsed = Id::parse(id);
	auto &wds = itemWds_[static_cast<int>(tree)];
	auto it = parsed ? wds.find(*parsed) : wds.end();
	if (it == wds.end())
		return;
	::inotify_rm_watch(fd_.get(), it->second);
	byWd_.erase(it->second);
	wds.erase(it);
	--itemCounts_[static_cast<int>(tree)];
}

bool InotifySource::itemWatched(Tree tree, const std::string &id) const
{
	auto parsed = Id::parse(id);
	return parsed && itemWds_[static_cast<int>(tree)].count(*parsed) != 0;
}

long InotifySource::drain(std::size_t maxRecords)
{
	return drainRecords(fd_.get(), maxRecords, output_, [this](const char *buffer, std::size_t length, std::size_t &handled) {
		return parseInotifyRecords(buffer, length, [&](const InotifyRecord &r) {
			++handled;
			dispatch(r);
		});
	});
}

void InotifySource::dispatch(const InotifyRecord &r)
{
	if (r.mask & IN_Q_OVERFLOW) {
		for (Tree t : {Tree::Overlay, Tree::Layers, Tree::Images})
			output_.stale(t, ResyncReason::Overflow);
		return;
	}
	auto it = byWd_.find(r.wd);
	if (it == byWd_.end())
		return; // a watch we already dropped
	Target target = it->second;
	if (r.mask & (IN_IGNORED | IN_UNMOUNT | IN_DELETE_SELF | IN_MOVE_SELF)) {
		// The watch is gone or now follows a folder that moved away: drop it, so
		// that the path is watched again once something is there.
		if (!(r.mask & IN_IGNORED))
			::inotify_rm_watch(fd_.get(), r.wd);
		byWd_.erase(it);
		if (!target.id) {
			treeWds_[static_cast<int>(target.tree)] = -1;
			output_.stale(target.tree, r.mask & IN_UNMOUNT ? ResyncReason::Unmount : ResyncReason::WatchLost);
		} else {
			if (itemWds_[static_cast<int>(target.tree)].erase(*target.id))
				--itemCounts_[static_cast<int>(target.tree)];
			output_.changed(target.tree, target.id->hex());
		}
		return;
	}
	if (!target.id) {
		std::string name(r.name);
		if (isValidId(name))
			output_.changed(target.tree, name);
		return;
	}
	output_.changed(target.tree, target.id->hex());
}

} // namespace lw

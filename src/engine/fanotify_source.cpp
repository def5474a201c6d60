// The fanotify backend: a filesystem mark, a table of folder handles, and records
// to "id may have changed".
#include "fanotify_source.h"

#include "sys.h"

#include <layerwatch/model.h>
#include <lw_config.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#if LW_HAVE_FANOTIFY
#include <sys/fanotify.h>
#endif

// Handles as fanotify reports them (Linux 6.5); older kernels give EINVAL and get
// the plain handle, which is the same on the filesystems they can mark.
#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200
#endif

namespace lw {

namespace {

constexpr std::size_t kFsidBytes = 8;
// struct file_handle's own header: handle_bytes and handle_type.
constexpr std::size_t kHandleHeader = 8;
constexpr std::size_t kMaxHandle = 128; // MAX_HANDLE_SZ

std::uint32_t loadU32(const char *p)
{
	std::uint32_t v;
	std::memcpy(&v, p, sizeof v);
	return v;
}

} // namespace

std::string fanotifyFolderKey(const void *fsid, const void *fileHandle, std::size_t handleLength)
{
	std::string key(static_cast<const char *>(fsid), kFsidBytes);
	key.append(static_cast<const char *>(fileHandle), kHandleHeader + handleLength);
	return key;
}

#if LW_HAVE_FANOTIFY

namespace {

std::atomic<bool> collideHashes{false}; // collideHashesForTesting

// What an item folder is filed under: its key's hash.
std::uint64_t keyHash(std::string_view key)
{
	return collideHashes.load(std::memory_order_relaxed) ? 0 : std::hash<std::string_view>{}(key);
}

// Entries of a tree come and go by create, delete and rename; files inside an item
// folder are written, replaced and removed; a folder itself may be deleted or moved
// (FAN_ONDIR: folders too, which is what items and trees are).
constexpr std::uint64_t kMask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_CLOSE_WRITE |
				FAN_ATTRIB | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR;

} // namespace

bool parseFanotifyRecords(const char *buffer, std::size_t length,
			  const std::function<void(const FanotifyRecord &)> &onRecord)
{
	std::size_t offset = 0;
	while (offset < length) {
		struct fanotify_event_metadata meta;
		if (length - offset < sizeof(meta))
			return false;
		std::memcpy(&meta, buffer + offset, sizeof(meta)); // the buffer need not be aligned
		if (meta.vers != FANOTIFY_METADATA_VERSION || meta.metadata_len < sizeof(meta) ||
		    meta.event_len < meta.metadata_len || meta.event_len > length - offset)
			return false;
		FanotifyRecord record;
		record.mask = meta.mask;
		record.fd = meta.fd;
		const char *end = buffer + offset + meta.event_len;
		for (const char *p = buffer + offset + meta.metadata_len; p < end;) {
			struct fanotify_event_info_header info;
			if (static_cast<std::size_t>(end - p) < sizeof(info))
				return false;
			std::memcpy(&info, p, sizeof(info));
			if (info.len < sizeof(info) || info.len > static_cast<std::size_t>(end - p))
				return false;
			const char *body = p + sizeof(info), *bodyEnd = p + info.len;
			if (info.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME || info.info_type == FAN_EVENT_INFO_TYPE_DFID) {
				if (static_cast<std::size_t>(bodyEnd - body) < kFsidBytes + kHandleHeader)
					return false;
				std::uint32_t handleBytes = loadU32(body + kFsidBytes);
				std::size_t keyLength = kFsidBytes + kHandleHeader + handleBytes;
				if (handleBytes > kMaxHandle || keyLength > static_cast<std::size_t>(bodyEnd - body))
					return false;
				record.folder = std::string_view(body, keyLength);
				if (info.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
					const char *name = body + keyLength;
					const void *nul = std::memchr(name, '\0', static_cast<std::size_t>(bodyEnd - name));
					if (!nul)
						return false;
					record.name = std::string_view(name, static_cast<std::size_t>(
										     static_cast<const char *>(nul) - name));
				}
			}
			// Other kinds (FID, PIDFD, ERROR, a rename's two names) are not asked for.
			p = bodyEnd;
		}
		onRecord(record);
		offset += meta.event_len;
	}
	return true;
}

Result<std::unique_ptr<FanotifySource>> FanotifySource::open(std::string root, SourceOutput output)
{
	int fd = sys::fanotifyInit(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
				   O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		std::string why = fd == -EPERM ? " (needs CAP_SYS_ADMIN)"
			: fd == -EINVAL ? " (names need Linux 5.9)" : "";
		return makeError(-fd, fmt::format("fanotify_init: {}{}", std::strerror(-fd), why));
	}
	std::unique_ptr<FanotifySource> source(new FanotifySource(std::move(root), std::move(output), fd));
	if (auto marked = source->markFilesystem(source->root_); !marked)
		return marked.error();
	source->quietLinkFolders();
	return source;
}

FanotifySource::FanotifySource(std::string root, SourceOutput output, int fd)
	: root_(std::move(root)), output_(std::move(output)), fd_(fd)
{
}

std::string FanotifySource::pathOf(Tree tree, const std::string &id) const
{
	return sourcePath(root_, tree, id);
}

std::string FanotifySource::shown(const std::string &path) const
{
	if (path == root_)
		return "the store";
	return path.starts_with(root_ + "/") ? path.substr(root_.size() + 1) : path;
}

Result<std::string> FanotifySource::markFilesystem(const std::string &path)
{
	struct statfs st;
	if (int r = sys::statFs(path.c_str(), &st); r < 0)
		return makeError(-r, fmt::format("statfs {}: {}", shown(path), std::strerror(-r)));
	std::string fsid(reinterpret_cast<const char *>(&st.f_fsid), kFsidBytes);
	if (std::find(markedFsids_.begin(), markedFsids_.end(), fsid) != markedFsids_.end())
		return fsid;
	int r = sys::fanotifyMark(fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kMask, AT_FDCWD, path.c_str());
	if (r < 0) {
		std::string why = r == -ENODEV || r == -EOPNOTSUPP ? " (a filesystem without file handles)"
			: r == -EXDEV ? " (a subvolume: its id is not its filesystem's)"
			: r == -EPERM ? " (needs CAP_SYS_ADMIN)"
			: r == -ENOSPC ? " (fs.fanotify.max_user_marks)" : "";
		return makeError(-r, fmt::format("fanotify mark on {}: {}{}", shown(path), std::strerror(-r), why));
	}
	markedFsids_.push_back(fsid);
	return fsid;
}

void FanotifySource::quietLinkFolders()
{
#ifdef FAN_MARK_IGNORE
	static constexpr const char *kFolders[] = {"overlay", "overlay-layers", "overlay/l"};
	// Entries that are not folders (links): a tree folder made or moved there is
	// still heard.
	constexpr std::uint64_t kEntries = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO;
	for (int i = 0; i < 3; ++i) {
		std::string path = root_ + "/" + kFolders[i];
		struct stat st;
		if (sys::fstatAt(AT_FDCWD, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
		    linkFolderMarked_[i] == st.st_ino)
			continue;
		if (sys::fanotifyMark(fd_.get(), FAN_MARK_ADD | FAN_MARK_IGNORE_SURV, kEntries, AT_FDCWD, path.c_str()) == 0)
			linkFolderMarked_[i] = st.st_ino;
	}
#endif
}

Result<std::string> FanotifySource::keyOf(const std::string &path, const std::string &fsid, int expectMountId,
					  int *mountIdOut)
{
	alignas(struct file_handle) unsigned char storage[sizeof(struct file_handle) + kMaxHandle];
	auto *handle = reinterpret_cast<struct file_handle *>(storage);
	int mountId = -1;
	int r = -EINVAL;
	for (int flags : {AT_HANDLE_FID, 0}) {
		handle->handle_bytes = kMaxHandle;
		r = sys::nameToHandleAt(AT_FDCWD, path.c_str(), handle, &mountId, flags);
		if (r != -EINVAL)
			break;
	}
	if (r < 0)
		return makeError(-r, fmt::format("file handle of {}: {}", shown(path), std::strerror(-r)));
	if (mountIdOut)
		*mountIdOut = mountId;
	std::string fsidBytes = fsid;
	if (fsidBytes.empty() || (expectMountId >= 0 && mountId != expectMountId)) {
		// Another mount than the tree's (or no fsid known yet): its own filesystem id.
		struct statfs st;
		if (int s = sys::statFs(path.c_str(), &st); s < 0)
			return makeError(-s, fmt::format("statfs {}: {}", shown(path), std::strerror(-s)));
		fsidBytes.assign(reinterpret_cast<const char *>(&st.f_fsid), kFsidBytes);
	}
	return fanotifyFolderKey(fsidBytes.data(), handle, handle->handle_bytes);
}

Result<void> FanotifySource::watchTree(Tree tree)
{
	int t = static_cast<int>(tree);
	std::string path = pathOf(tree, {});
	// The mark first: what happens after it is heard; the caller lists the tree after.
	auto fsid = markFilesystem(path);
	if (!fsid)
		return fsid.error();
	int mountId = -1;
	auto key = keyOf(path, *fsid, -1, &mountId); // the fsid is this very path's
	if (!key)
		return key.error();
	treeFsids_[t] = key->substr(0, kFsidBytes);
	treeMounts_[t] = mountId;
	treeKeys_[t] = *key;
	return {};
}

Result<void> FanotifySource::watchItem(Tree tree, const std::string &id)
{
	auto parsed = Id::parse(id);
	if (!parsed)
		return Error{EINVAL, "not an id: " + id};
	if (itemWatched(tree, id))
		return {};
	int t = static_cast<int>(tree);
	std::string path = pathOf(tree, id);
	auto key = keyOf(path, treeFsids_[t], treeMounts_[t]);
	if (!key)
		return key.error();
	// A folder on a filesystem of its own (a mount inside the tree): its events come
	// only with a mark on that filesystem too, as inotify's watch on the folder hears
	// them.
	if (key->compare(0, kFsidBytes, treeFsids_[t]) != 0)
		if (auto marked = markFilesystem(path); !marked)
			return marked.error();
	// One folder under two ids (or two whose hashes meet): each is told of events on
	// either.
	std::uint64_t hash = keyHash(*key);
	items_.emplace(hash, Target{tree, *parsed});
	itemKeys_[t].emplace(*parsed, hash);
	++itemCounts_[t];
	return {};
}

void FanotifySource::forgetItem(Tree tree, const Id &id)
{
	auto &keys = itemKeys_[static_cast<int>(tree)];
	auto it = keys.find(id);
	if (it == keys.end())
		return;
	auto [first, last] = items_.equal_range(it->second);
	for (auto entry = first; entry != last; ++entry)
		if (entry->second.tree == tree && entry->second.id == id) {
			items_.erase(entry);
			break;
		}
	keys.erase(it);
	--itemCounts_[static_cast<int>(tree)];
}

void FanotifySource::unwatchItem(Tree tree, const std::string &id)
{
	if (auto parsed = Id::parse(id))
		forgetItem(tree, *parsed);
}

bool FanotifySource::itemWatched(Tree tree, const std::string &id) const
{
	auto parsed = Id::parse(id);
	return parsed && itemKeys_[static_cast<int>(tree)].count(*parsed) != 0;
}

void FanotifySource::collideHashesForTesting(bool collide)
{
	collideHashes = collide;
}

long FanotifySource::drain(std::size_t maxRecords)
{
	return drainRecords(fd_.get(), maxRecords, output_, [this](const char *buffer, std::size_t length, std::size_t &handled) {
		return parseFanotifyRecords(buffer, length, [&](const FanotifyRecord &r) {
			++handled;
			dispatch(r);
		});
	});
}

void FanotifySource::dispatch(const FanotifyRecord &r)
{
	if (r.fd >= 0)
		::close(r.fd); // not asked for (handles, not fds): never kept
	if (r.mask & FAN_Q_OVERFLOW) {
		quietLinkFolders();
		for (Tree t : {Tree::Overlay, Tree::Layers, Tree::Images})
			output_.stale(t, ResyncReason::Overflow);
		return;
	}
	bool self = r.name == "." || r.name.empty();
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		std::string &key = treeKeys_[static_cast<int>(tree)];
		if (key.empty() || r.folder != key)
			continue;
		if (self && (r.mask & (FAN_DELETE_SELF | FAN_MOVE_SELF))) {
			// Gone or moved away: forgotten, so that the path is followed again once
			// something is there.
			key.clear();
			output_.stale(tree, ResyncReason::WatchLost);
		} else if (!self) {
			if (std::string name(r.name); isValidId(name))
				output_.changed(tree, name);
		}
		return;
	}
	dispatchToItems(r);
}

void FanotifySource::dispatchToItems(const FanotifyRecord &r)
{
	auto [first, last] = items_.equal_range(keyHash(r.folder));
	if (first == last)
		return; // a folder the store does not follow: most of a filesystem's events
	std::vector<Target> targets;
	for (auto it = first; it != last; ++it)
		targets.push_back(it->second);
	bool gone = (r.name == "." || r.name.empty()) && (r.mask & (FAN_DELETE_SELF | FAN_MOVE_SELF));
	for (const Target &target : targets) {
		std::string id = target.id.hex();
		// Gone or moved away: forgotten, so that the path is followed again once
		// something is there; unless its path still holds the folder watched (the event
		// was another folder's, whose hash is the same).
		if (gone) {
			int t = static_cast<int>(target.tree);
			auto now = keyOf(pathOf(target.tree, id), treeFsids_[t], treeMounts_[t]);
			if (!now || keyHash(*now) != keyHash(r.folder))
				forgetItem(target.tree, target.id);
		}
		output_.changed(target.tree, id); // its files, or its own mode or owner
	}
}

#else // !LW_HAVE_FANOTIFY

bool parseFanotifyRecords(const char *, std::size_t, const std::function<void(const FanotifyRecord &)> &)
{
	return false;
}

Result<std::unique_ptr<FanotifySource>> FanotifySource::open(std::string, SourceOutput)
{
	return makeError(ENOSYS, "fanotify: not in this build (-Dfanotify, sys/fanotify.h)");
}

FanotifySource::FanotifySource(std::string root, SourceOutput output, int fd)
	: root_(std::move(root)), output_(std::move(output)), fd_(fd)
{
}

Result<void> FanotifySource::watchTree(Tree) { return makeError(ENOSYS, "fanotify: not in this build"); }
Result<void> FanotifySource::watchItem(Tree, const std::string &) { return makeError(ENOSYS, "fanotify: not in this build"); }
void FanotifySource::unwatchItem(Tree, const std::string &) {}
bool FanotifySource::itemWatched(Tree, const std::string &) const { return false; }
long FanotifySource::drain(std::size_t) { return -ENOSYS; }
void FanotifySource::collideHashesForTesting(bool) {}

#endif

} // namespace lw

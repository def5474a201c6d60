// The fanotify backend: one FAN_MARK_FILESYSTEM mark per filesystem that holds a
// local tree, instead of one inotify watch per folder. The kernel names each event by
// its folder's file handle and the entry's name (FAN_REPORT_DFID_NAME); a table of
// the folders the engine follows (the three trees, and the item folders it asks for,
// as inotify would watch them) maps a handle back to (tree, id). Events on any other
// folder of the filesystem are dropped after one hash lookup. The table is our memory
// only: the kernel pins nothing per folder. Item folders are filed by their handle's
// hash (one per image in a settled store: 8 bytes each, not a string of 24 and more):
// an event on another folder whose handle shares an item's hash costs a needless
// read of that item, and a removal is believed only once the item's path says so.
// Needs CAP_SYS_ADMIN and a filesystem with file handles. Loop-bound: one thread.
#pragma once

#include "event_source.h"
#include "id.h"
#include "unique_fd.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lw {

// One fanotify event, bound-checked out of a read buffer.
struct FanotifyRecord {
	std::uint64_t mask = 0;
	int fd = -1; // FAN_NOFD with handles; an fd here is the reader's to close
	// The folder the event names: its filesystem id and file handle, as bytes
	// (fanotifyFolderKey's form); empty when the event names none (an overflow).
	std::string_view folder;
	// The entry in that folder; "." for the folder itself (a self event).
	std::string_view name;
};

// Splits a buffer read from a fanotify fd into records. Returns false (and stops) at
// a record that runs past the buffer or its own length, has another metadata version,
// or carries a name without its NUL: a short or corrupt read.
bool parseFanotifyRecords(const char *buffer, std::size_t length,
			  const std::function<void(const FanotifyRecord &)> &onRecord);

// A folder's key as records carry it: the filesystem id (8 bytes), then the handle as
// struct file_handle lays it out (length, type, bytes).
std::string fanotifyFolderKey(const void *fsid, const void *fileHandle, std::size_t handleLength);

class FanotifySource final : public KernelSource {
public:
	// A group with names, non-blocking, and a mark on the filesystem holding root:
	// EPERM without CAP_SYS_ADMIN, EINVAL before Linux 5.9, ENODEV or EOPNOTSUPP on
	// a filesystem without file handles (FUSE, some network ones), EXDEV on a
	// subvolume whose id is not its filesystem's.
	static Result<std::unique_ptr<FanotifySource>> open(std::string root, SourceOutput output);

	const char *name() const override { return "fanotify"; }
	EventSource eventSource() const override { return EventSource::Fanotify; }
	int fd() const override { return fd_.get(); }

	// The tree folder's handle in the table, and its filesystem marked (once).
	Result<void> watchTree(Tree tree) override;
	bool treeWatched(Tree tree) const override { return !treeKeys_[static_cast<int>(tree)].empty(); }
	// The item folder's handle in the table: no kernel object, no limit.
	Result<void> watchItem(Tree tree, const std::string &id) override;
	void unwatchItem(Tree tree, const std::string &id) override;
	bool itemWatched(Tree tree, const std::string &id) const override;
	std::size_t itemWatchCount(Tree tree) const override { return itemCounts_[static_cast<int>(tree)]; }

	long drain(std::size_t maxRecords) override;

	// Tests: every item folder's handle hashes alike from now on (until false), so
	// that what a collision does can be seen. Any thread, before sources are opened.
	static void collideHashesForTesting(bool collide);

	std::size_t watchCount() const override { return 0; }
	std::size_t markCount() const override { return markedFsids_.size(); }

private:
	FanotifySource(std::string root, SourceOutput output, int fd);
	std::string pathOf(Tree tree, const std::string &id) const;
	// Marks path's filesystem (once per fsid); returns its fsid.
	Result<std::string> markFilesystem(const std::string &path);
	// The folder's key. fsid is its filesystem's, looked up when empty or when the
	// folder is on another mount than expectMountId (-1: fsid is path's own).
	Result<std::string> keyOf(const std::string &path, const std::string &fsid, int expectMountId,
				  int *mountId = nullptr);
	// This host's own links (overlay/<id>, overlay-layers/<id>, overlay/l/<link>) are
	// made on the filesystem the mark hears whole: a load of 10 000 layers makes 30 000
	// of them, more than the kernel's queue holds (16 384), and it overflowed on every
	// start. No one here needs those folders' entries (a tree's own events name its
	// folder; a tree moved away is heard on the tree): an ignore mark on each folder
	// there is (Linux 6.0, FAN_MARK_IGNORE), tried again on each overflow for those
	// still missing (l/ is made with the first link) or made anew (a mark goes with
	// its inode).
	void quietLinkFolders();
	void dispatch(const FanotifyRecord &record);
	void dispatchToItems(const FanotifyRecord &record);
	void forgetItem(Tree tree, const Id &id);

	struct Target {
		Tree tree;
		Id id;
	};
	struct KeyHashHash {
		std::size_t operator()(std::uint64_t hash) const noexcept { return hash; } // a hash already
	};

	// path below the root as messages name it ("overlay/RO"): the root may be reached
	// through a handle (/proc/self/fd/N), which says nothing to an operator.
	std::string shown(const std::string &path) const;

	std::string root_;
	SourceOutput output_;
	UniqueFd fd_;
	// Item folders: the hash of each one's key, and per tree each id's hash.
	std::unordered_multimap<std::uint64_t, Target, KeyHashHash> items_;
	std::unordered_map<Id, std::uint64_t, IdHash> itemKeys_[3];
	std::string treeKeys_[3]; // the tree folders' keys, in full
	// Each tree's filesystem id and mount: an item folder on the same mount shares it.
	std::string treeFsids_[3];
	int treeMounts_[3] = {-1, -1, -1};
	std::vector<std::string> markedFsids_;
	std::size_t itemCounts_[3] = {};
	// The inode each link folder's ignore mark is on (0: none): overlay,
	// overlay-layers, overlay/l.
	std::uint64_t linkFolderMarked_[3] = {};
};

} // namespace lw

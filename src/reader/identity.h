// Identity: what makes an item "the same" between two looks (DESIGN.md section 2).
// A folder removed and recreated under the same id has a new inode; a file rewritten
// in place has a new mtime or ctime. Taken before an item is read, so that a change
// during the read shows at the next look.
#pragma once

#include "holders.h"
#include "thin_list.h"

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lw {

struct FileId {
	std::uint64_t dev = 0;
	std::uint64_t ino = 0; // 0: absent
	std::int64_t mtimeNs = 0;
	std::int64_t ctimeNs = 0;
	std::int64_t size = 0;
	// Birth time where the filesystem keeps one (0 elsewhere): an inode number can be
	// reused at once by a folder recreated under the same id; a birth time cannot.
	std::int64_t btimeNs = 0;
	std::uint32_t mode = 0; // (the two 4-byte fields side by side: 56 bytes, not 64)
	// The errno of a look that failed for another reason than absence (EIO, ESTALE,
	// EACCES ...): such a look says nothing about the file.
	int error = 0;

	bool operator==(const FileId &) const = default;
};

using FileIds = ThinList<FileId>;

struct Identity {
	FileId folder;
	FileIds files; // in the order of the names probed

	bool operator==(const Identity &) const = default;
};

// What tells one inode from another: all that is kept of a committed item's folder.
struct InodeId {
	std::uint64_t dev = 0, ino = 0;
	std::int64_t btimeNs = 0;

	InodeId() = default;
	InodeId(const FileId &file) : dev(file.dev), ino(file.ino), btimeNs(file.btimeNs) {}
	bool operator==(const InodeId &) const = default;
};

// The same inode, born at the same time: a change in place rather than a new item.
inline bool sameInode(const InodeId &a, const InodeId &b)
{
	return a == b;
}

// lstat (statx) of dirFd/path; a zero FileId when absent (ENOENT, ENOTDIR), one
// with only error set when the look failed otherwise. extraFlags: for instance
// AT_STATX_FORCE_SYNC, for an answer fresh from a network server.
FileId statId(int dirFd, const std::string &path, int extraFlags = 0);

// What a probe saw, as the struct stat that a look before opening would give
// (st_mode 0: absent).
struct stat asLooked(const FileId &file);

// The names an item's probe stats besides its folder, shared: the items of a tree
// mostly probe the same ones (a settled image its images.json and manifest, a settled
// overlay or layer none), and a plan copies them for each item it rechecks (after a
// load, every image: its new watch comes with one more look).
class ProbeNames {
public:
	ProbeNames() = default; // none
	explicit ProbeNames(std::vector<std::string> names) : shared_(new Shared{{}, std::move(names)}) {}
	ProbeNames(const ProbeNames &other) noexcept : shared_(other.shared_)
	{
		if (shared_)
			shared_->holders.hold();
	}
	ProbeNames(ProbeNames &&other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
	ProbeNames &operator=(ProbeNames other) noexcept
	{
		std::swap(shared_, other.shared_);
		return *this;
	}
	~ProbeNames()
	{
		if (shared_ && shared_->holders.release())
			delete shared_;
	}

	const std::vector<std::string> &list() const
	{
		static const std::vector<std::string> none;
		return shared_ ? shared_->names : none;
	}
	std::size_t size() const { return list().size(); }
	const std::string &back() const { return list().back(); }
	// These and one more (a copy: the list may be shared).
	ProbeNames with(const std::string &name) const
	{
		std::vector<std::string> more = list();
		more.push_back(name);
		return ProbeNames(std::move(more));
	}

private:
	// Counted in itself (plans carry lists to workers): 8 bytes in each item, where a
	// shared_ptr cost 16.
	struct Shared {
		Holders holders;
		const std::vector<std::string> names;
	};
	Shared *shared_ = nullptr;
};

// lstat of treeFd/<id> and of treeFd/<id>/<name> for each name: directory listings
// and stats only, nothing read. Absent entries give a zero FileId.
// folderFlags go to the folder's statx: AT_STATX_FORCE_SYNC on a network share, where
// a folder made anew under its id may still show the old one's cached attributes.
Identity probeIdentity(int treeFd, const std::string &id, const std::vector<std::string> &names,
		       int folderFlags = 0);

// The first failed look of an identity (its errno), or 0.
inline int identityError(const Identity &identity)
{
	if (identity.folder.error)
		return identity.folder.error;
	for (const auto &f : identity.files)
		if (f.error)
			return f.error;
	return 0;
}

} // namespace lw

// A fresh ext4 filesystem of the bench's own, for the readers' local disk in section 6
// (where this host's links are made).
#pragma once

#include <cstdint>
#include <string>

namespace lw::bench {

// ext4 skips inodes deleted in the last minutes when it allocates one (its
// recently_deleted check, for NFS's sake), scanning past them one by one: on a disk
// where anything just deleted a large store (the last bench run's clean-up, a test
// suite) one symlink(2) took up to 1.6 ms here, a minute later 40 µs. A floor and a
// load measured a minute apart would meet different disks. A new filesystem in a
// sparse file, loop-mounted at path until this goes, has deleted nothing. Where it
// cannot be made (no loop device, not root) path is a plain folder, and mounted()
// says so.
class ScratchDisk {
public:
	ScratchDisk(const std::string &image, std::string path, std::uint64_t bytes);
	~ScratchDisk();
	ScratchDisk(const ScratchDisk &) = delete;
	ScratchDisk &operator=(const ScratchDisk &) = delete;

	const std::string &path() const { return path_; }
	bool mounted() const { return mounted_; }

private:
	std::string image_, path_;
	bool mounted_ = false;
};

} // namespace lw::bench

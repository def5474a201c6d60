// A fresh ext4 in a sparse file, loop-mounted (scratch_disk.h).
#include "scratch_disk.h"

#include <fmt/format.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace lw::bench {

ScratchDisk::ScratchDisk(const std::string &image, std::string path, std::uint64_t bytes)
	: image_(image), path_(std::move(path))
{
	std::filesystem::create_directories(path_);
	std::string make = fmt::format("truncate -s {} '{}' && mkfs.ext4 -q -F '{}' >/dev/null 2>&1 && "
				       "mount -o loop '{}' '{}' 2>/dev/null",
				       bytes, image_, image_, image_, path_);
	mounted_ = ::geteuid() == 0 && std::system(make.c_str()) == 0;
}

ScratchDisk::~ScratchDisk()
{
	if (mounted_)
		::umount2(path_.c_str(), MNT_DETACH);
	std::error_code ignored;
	std::filesystem::remove(image_, ignored);
}

} // namespace lw::bench

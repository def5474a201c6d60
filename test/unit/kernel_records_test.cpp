// Pure parsing of kernel-provided text and records: inotify records (bound-checked)
// and /proc/self/mountinfo (local or remote).
#include "test_support.h"

#include "fs_classify.h"
#include "inotify_source.h"

#include <sys/inotify.h>

#include <cstring>

using namespace lw;

namespace {

std::string record(int wd, std::uint32_t mask, const std::string &name, std::size_t padTo = 0)
{
	std::size_t len = name.empty() ? 0 : std::max(padTo, name.size() + 1);
	struct inotify_event header = {};
	header.wd = wd;
	header.mask = mask;
	header.len = static_cast<std::uint32_t>(len);
	std::string out(reinterpret_cast<const char *>(&header), sizeof(header));
	std::string padded = name;
	padded.resize(len, '\0');
	return out + padded;
}

std::vector<InotifyRecord> parseAll(const std::string &buffer, bool &whole, std::vector<std::string> &names)
{
	std::vector<InotifyRecord> out;
	whole = parseInotifyRecords(buffer.data(), buffer.size(), [&](const InotifyRecord &r) {
		out.push_back(r);
		names.emplace_back(r.name);
	});
	return out;
}

} // namespace

TEST_CASE("inotify records are split and bound-checked")
{
	std::string id(64, 'a');
	std::string buffer = record(1, IN_CREATE | IN_ISDIR, id, 80) + record(2, IN_Q_OVERFLOW, "") + record(3, IN_MOVED_TO, "x", 16);
	bool whole;
	std::vector<std::string> names;
	auto records = parseAll(buffer, whole, names);
	CHECK(whole);
	REQUIRE(records.size() == 3);
	CHECK(records[0].wd == 1);
	CHECK(names[0] == id); // padding dropped
	CHECK(records[1].mask == IN_Q_OVERFLOW);
	CHECK(names[1].empty());
	CHECK(names[2] == "x");

	SUBCASE("a record whose length runs past the buffer stops the parse")
	{
		std::string cut = buffer.substr(0, buffer.size() - 5);
		names.clear();
		auto partial = parseAll(cut, whole, names);
		CHECK_FALSE(whole);
		CHECK(partial.size() == 2);
	}
	SUBCASE("a header cut short stops the parse")
	{
		names.clear();
		auto none = parseAll(buffer.substr(0, 7), whole, names);
		CHECK_FALSE(whole);
		CHECK(none.empty());
	}
	SUBCASE("a huge len is refused, not trusted")
	{
		std::string evil = record(1, IN_CREATE, "abc", 8);
		std::uint32_t huge = 0xffffffffu;
		std::memcpy(evil.data() + offsetof(struct inotify_event, len), &huge, sizeof(huge));
		names.clear();
		auto none = parseAll(evil, whole, names);
		CHECK_FALSE(whole);
		CHECK(none.empty());
	}
	SUBCASE("a name without its NUL stays within len")
	{
		std::string noNul = record(1, IN_CREATE, "abcdefg", 8);
		noNul.back() = 'h'; // len 8, no NUL left
		names.clear();
		parseAll(noNul, whole, names);
		CHECK(whole);
		CHECK(names.at(0) == "abcdefgh");
	}
}

TEST_CASE("filesystem types: remote or local")
{
	for (auto t : {"nfs", "nfs4", "cifs", "smb3", "ceph", "glusterfs", "9p", "lustre", "fuse.bindfs", "fuse.sshfs", "fuse"})
		CHECK_MESSAGE(isRemoteFsType(t), t);
	for (auto t : {"ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "", "nfsd"})
		CHECK_FALSE_MESSAGE(isRemoteFsType(t), t);
	CHECK(isRemoteFsMagic(0x6969));
	CHECK(isRemoteFsMagic(0x65735546));
	CHECK(isRemoteFsMagic(static_cast<long>(0xFF534D42)));
	CHECK_FALSE(isRemoteFsMagic(0xEF53)); // ext4
	CHECK_FALSE(isRemoteFsMagic(0x01021994)); // tmpfs
}

TEST_CASE("mountinfo: the longest mount point holding the path wins")
{
	std::string mountinfo =
		"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
		"30 22 0:40 / /var/lib/isulad/storage/overlay/RO rw shared:5 - nfs4 server:/export/overlay rw\n"
		"31 22 0:41 / /var/lib/isulad/storage/overlay-images rw - fuse.bindfs bindfs rw\n"
		"32 22 0:42 / /mnt/with\\040space rw - cifs //srv/share rw\n"
		"garbage line\n"
		"33 22 0:43 / /var/lib/isulad/storage/overlay/ROX rw - tmpfs tmpfs rw\n";
	CHECK(fsTypeFromMountinfo(mountinfo, "/var/lib/isulad/storage/overlay/RO") == "nfs4");
	CHECK(fsTypeFromMountinfo(mountinfo, "/var/lib/isulad/storage/overlay/RO/abc") == "nfs4");
	CHECK(fsTypeFromMountinfo(mountinfo, "/var/lib/isulad/storage/overlay-images") == "fuse.bindfs");
	CHECK(fsTypeFromMountinfo(mountinfo, "/var/lib/isulad/storage/overlay-layers/RO") == "ext4");
	CHECK(fsTypeFromMountinfo(mountinfo, "/mnt/with space/x") == "cifs");
	// A prefix in characters is not a prefix in path components.
	CHECK(fsTypeFromMountinfo(mountinfo, "/var/lib/isulad/storage/overlay/ROX/a") == "tmpfs");
	CHECK(fsTypeFromMountinfo("", "/x").empty());
}

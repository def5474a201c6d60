// Pure parsing of kernel-provided text and records: inotify and fanotify records
// (bound-checked) and /proc/self/mountinfo (local or remote).
#include "test_support.h"

#include "fanotify_source.h"
#include "fs_classify.h"
#include "inotify_source.h"

#include <lw_config.h>

#include <sys/inotify.h>
#if LW_HAVE_FANOTIFY
#include <sys/fanotify.h>
#endif

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

#if LW_HAVE_FANOTIFY
namespace {

// One fanotify event as the kernel lays it out: metadata, then a DFID_NAME record
// (fsid, struct file_handle, NUL-terminated name, padded to 4 bytes), or none.
std::string fanRecord(std::uint64_t mask, const std::string &handle, const char *name, int fd = FAN_NOFD,
		      std::uint8_t infoType = FAN_EVENT_INFO_TYPE_DFID_NAME)
{
	std::string info;
	if (name) {
		std::string fsid = "FSIDFSID";
		std::uint32_t bytes = static_cast<std::uint32_t>(handle.size());
		std::int32_t type = 1;
		std::string body = fsid + std::string(reinterpret_cast<const char *>(&bytes), 4) +
				   std::string(reinterpret_cast<const char *>(&type), 4) + handle + name + '\0';
		body.resize((body.size() + 4 + 3) / 4 * 4 - 4, '\0');
		struct fanotify_event_info_header header = {};
		header.info_type = infoType;
		header.len = static_cast<std::uint16_t>(sizeof(header) + body.size());
		info = std::string(reinterpret_cast<const char *>(&header), sizeof(header)) + body;
	}
	struct fanotify_event_metadata meta = {};
	meta.vers = FANOTIFY_METADATA_VERSION;
	meta.metadata_len = sizeof(meta);
	meta.event_len = static_cast<std::uint32_t>(sizeof(meta) + info.size());
	meta.mask = mask;
	meta.fd = fd;
	return std::string(reinterpret_cast<const char *>(&meta), sizeof(meta)) + info;
}

struct FanParsed {
	bool whole = false;
	std::vector<std::uint64_t> masks;
	std::vector<std::string> folders, names;
};

FanParsed parseFan(const std::string &buffer)
{
	FanParsed out;
	out.whole = parseFanotifyRecords(buffer.data(), buffer.size(), [&](const FanotifyRecord &r) {
		out.masks.push_back(r.mask);
		out.folders.emplace_back(r.folder);
		out.names.emplace_back(r.name);
	});
	return out;
}

} // namespace

TEST_CASE("fanotify records are split and bound-checked; a folder's key is what registration makes")
{
	std::string id(64, 'a'), handle = "12345678";
	std::string buffer = fanRecord(FAN_CREATE | FAN_ONDIR, handle, id.c_str()) + fanRecord(FAN_Q_OVERFLOW, {}, nullptr) +
			     fanRecord(FAN_DELETE_SELF | FAN_ONDIR, handle, ".");
	auto parsed = parseFan(buffer);
	CHECK(parsed.whole);
	REQUIRE(parsed.masks.size() == 3);
	CHECK(parsed.names[0] == id);
	CHECK(parsed.masks[1] == FAN_Q_OVERFLOW);
	CHECK(parsed.folders[1].empty());
	CHECK(parsed.names[2] == ".");
	// The key registration builds from a statfs fsid and a name_to_handle_at handle.
	std::int32_t type = 1;
	std::string fileHandle = std::string("\x08\0\0\0", 4) + std::string(reinterpret_cast<const char *>(&type), 4) + handle;
	CHECK(parsed.folders[0] == fanotifyFolderKey("FSIDFSID", fileHandle.data(), handle.size()));
	CHECK(parsed.folders[0] == parsed.folders[2]);

	SUBCASE("an event that runs past the buffer stops the parse")
	{
		auto cut = parseFan(buffer.substr(0, buffer.size() - 3));
		CHECK_FALSE(cut.whole);
		CHECK(cut.masks.size() == 2);
	}
	SUBCASE("another metadata version is not read")
	{
		std::string bad = buffer;
		bad[4] = static_cast<char>(FANOTIFY_METADATA_VERSION + 1);
		CHECK_FALSE(parseFan(bad).whole);
	}
	SUBCASE("an info record longer than its event")
	{
		std::string bad = fanRecord(FAN_CREATE, handle, "x");
		bad[sizeof(struct fanotify_event_metadata) + 2] = static_cast<char>(0x7f); // info.len
		CHECK_FALSE(parseFan(bad).whole);
	}
	SUBCASE("a handle longer than its record, or than any handle")
	{
		std::string bad = fanRecord(FAN_CREATE, handle, "x");
		std::size_t bytesAt = sizeof(struct fanotify_event_metadata) + sizeof(struct fanotify_event_info_header) + 8;
		bad[bytesAt] = 40;
		CHECK_FALSE(parseFan(bad).whole);
		std::string huge = fanRecord(FAN_CREATE, std::string(200, 'h'), "x");
		CHECK_FALSE(parseFan(huge).whole);
	}
	SUBCASE("a name without its NUL")
	{
		std::string bad = fanRecord(FAN_CREATE, handle, "abc");
		bad.back() = 'z'; // the padding's last byte: now no NUL after "abc" within the record
		bad[bad.size() - 2] = 'z';
		bad[bad.size() - 3] = 'z';
		bad[bad.size() - 4] = 'z';
		CHECK_FALSE(parseFan(bad).whole);
	}
	SUBCASE("an event shorter than its metadata")
	{
		std::string bad = fanRecord(FAN_CREATE, handle, "x");
		bad[0] = 8; // event_len
		bad[1] = bad[2] = bad[3] = 0;
		CHECK_FALSE(parseFan(bad).whole);
	}
	SUBCASE("kinds not asked for are skipped, the event kept")
	{
		auto other = parseFan(fanRecord(FAN_CREATE, handle, "x", FAN_NOFD, FAN_EVENT_INFO_TYPE_PIDFD));
		CHECK(other.whole);
		REQUIRE(other.masks.size() == 1);
		CHECK(other.folders[0].empty());
	}
}
#endif

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

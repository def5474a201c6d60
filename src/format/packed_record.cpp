// Records to and from their packed blocks.
//
// A block: its size (4 bytes), then the fields. A string is a tag byte and then:
// kHex, the 32 bytes of a hex name; kDigest, the 32 bytes of a "sha256:" digest;
// kOwnDigest, nothing: "sha256:" and the record's own id (the first field, an id then:
// an image's config is named by it); kUtc, a time as utc_time.h holds it (8 bytes of
// seconds, 4 of nanoseconds, 1 of digits); kRaw, its length (LEB128) and its bytes.
// A list is its count (LEB128), then its strings; an optional number a byte (0
// absent, 1 present), then 8 bytes.
// Layer: id, parent, diffDigest, compressedDiffDigest, created, diffSize, names (not
// its link: see PackedLayer).
// Image: id, topLayer, digest, created, names, bigDataNames.
#include "packed_record.h"

#include "holders.h"
#include "utc_time.h"

#include <layerwatch/model.h>

#include <cstring>
#include <new>

namespace lw {

namespace {

enum Tag : std::uint8_t { kRaw = 0, kHex = 1, kDigest = 2, kOwnDigest = 3, kUtc = 4 };
constexpr std::size_t kUtcBytes = 8 + 4 + 1;
constexpr std::size_t kSizeBytes = sizeof(std::uint32_t);

void putCount(std::string &out, std::size_t n)
{
	do {
		std::uint8_t byte = n & 0x7f;
		n >>= 7;
		out.push_back(static_cast<char>(byte | (n ? 0x80 : 0)));
	} while (n);
}

void putId(std::string &out, Tag tag, const Id &id)
{
	out.push_back(static_cast<char>(tag));
	out.append(reinterpret_cast<const char *>(id.data()), 32);
}

// own: the record's id, when it is one.
void putString(std::string &out, std::string_view s, const std::optional<Id> &own = std::nullopt)
{
	if (auto id = Id::parse(s))
		return putId(out, kHex, *id);
	if (auto id = Id::parseDigest(s))
		return own && *id == *own ? out.push_back(static_cast<char>(kOwnDigest)) : putId(out, kDigest, *id);
	out.push_back(static_cast<char>(kRaw));
	putCount(out, s.size());
	out.append(s);
}

void putList(std::string &out, const std::vector<std::string> &list, const std::optional<Id> &own = std::nullopt)
{
	putCount(out, list.size());
	for (const auto &s : list)
		putString(out, s, own);
}

// A time as numbers when its text comes back the same from them, else as text.
void putTime(std::string &out, std::string_view s)
{
	auto time = parseUtc(s);
	if (!time)
		return putString(out, s);
	out.push_back(static_cast<char>(kUtc));
	char bytes[kUtcBytes];
	std::memcpy(bytes, &time->seconds, 8);
	std::memcpy(bytes + 8, &time->nanos, 4);
	bytes[12] = static_cast<char>(time->digits);
	out.append(bytes, kUtcBytes);
}

void putNumber(std::string &out, const std::optional<std::int64_t> &n)
{
	out.push_back(n ? 1 : 0);
	if (n) {
		char bytes[8];
		std::memcpy(bytes, &*n, 8);
		out.append(bytes, 8);
	}
}

// Reads a block's fields in order. Blocks are made here only, so it trusts them.
class Cursor {
public:
	// At the block's first field, or past the first `skip` (strings all).
	explicit Cursor(const detail::PackedBlock &block, int skip = 0)
		: first_(block.begin() + kSizeBytes), at_(first_)
	{
		while (skip-- > 0)
			skipString();
	}

	const std::uint8_t *at() const { return at_; }
	std::size_t count()
	{
		std::size_t n = 0;
		for (int shift = 0;; shift += 7) {
			std::uint8_t byte = *at_++;
			n |= std::size_t(byte & 0x7f) << shift;
			if (!(byte & 0x80))
				return n;
		}
	}
	std::string string()
	{
		switch (*at_++) {
		case kHex:
			return idAt().hex();
		case kDigest:
			return idAt().digest();
		case kOwnDigest:
			return Id::fromBytes(first_ + 1).digest(); // past the id's tag
		case kUtc: {
			UtcTime time;
			std::memcpy(&time.seconds, at_, 8);
			std::memcpy(&time.nanos, at_ + 8, 4);
			time.digits = at_[12];
			at_ += kUtcBytes;
			return formatUtc(time);
		}
		default: {
			std::size_t n = count();
			std::string s(reinterpret_cast<const char *>(at_), n);
			at_ += n;
			return s;
		}
		}
	}
	// The string as an id, when it is one.
	std::optional<Id> key()
	{
		if (*at_ == kHex)
			return ++at_, idAt();
		skipString();
		return std::nullopt;
	}
	void skipString()
	{
		switch (*at_++) {
		case kHex:
		case kDigest:
			at_ += 32;
			break;
		case kOwnDigest:
			break;
		case kUtc:
			at_ += kUtcBytes;
			break;
		default:
			at_ += count();
		}
	}
	std::vector<std::string> list()
	{
		std::vector<std::string> out(count());
		for (auto &s : out)
			s = string();
		return out;
	}
	void skipList()
	{
		for (std::size_t n = count(); n > 0; --n)
			skipString();
	}
	std::optional<std::int64_t> number()
	{
		if (*at_++ == 0)
			return std::nullopt;
		std::int64_t n;
		std::memcpy(&n, at_, 8);
		at_ += 8;
		return n;
	}
private:
	Id idAt()
	{
		Id id = Id::fromBytes(at_);
		at_ += 32;
		return id;
	}

	const std::uint8_t *first_; // the record's id
	const std::uint8_t *at_;
};

} // namespace

namespace detail {

namespace {

// A block's holders, counted in the 4 bytes before its size.
constexpr std::size_t kCountBytes = sizeof(Holders);
static_assert(kCountBytes == 4 && alignof(Holders) <= kCountBytes);

Holders &holdersOf(std::uint8_t *bytes)
{
	return *std::launder(reinterpret_cast<Holders *>(bytes - kCountBytes));
}

} // namespace

PackedBlock::PackedBlock(const std::string &fields)
{
	std::uint32_t size = static_cast<std::uint32_t>(kSizeBytes + fields.size());
	auto *storage = static_cast<std::uint8_t *>(::operator new(kCountBytes + size));
	new (storage) Holders;
	bytes_ = storage + kCountBytes;
	std::memcpy(bytes_, &size, kSizeBytes);
	std::memcpy(bytes_ + kSizeBytes, fields.data(), fields.size());
}

PackedBlock::PackedBlock(const PackedBlock &other) noexcept : bytes_(other.bytes_)
{
	if (bytes_)
		holdersOf(bytes_).hold();
}

PackedBlock::~PackedBlock()
{
	if (bytes_ && holdersOf(bytes_).release()) {
		holdersOf(bytes_).~Holders();
		::operator delete(bytes_ - kCountBytes);
	}
}

std::size_t PackedBlock::size() const
{
	std::uint32_t size = 0;
	if (bytes_)
		std::memcpy(&size, bytes_, kSizeBytes);
	return size;
}

bool PackedBlock::operator==(const PackedBlock &other) const
{
	return bytes_ == other.bytes_ ||
	       (size() == other.size() && bytes_ && other.bytes_ && std::memcmp(begin(), other.begin(), size()) == 0);
}

} // namespace detail

PackedLayer::PackedLayer(const LayerInfo &info)
{
	std::string out;
	putString(out, info.id);
	putString(out, info.parent);
	putString(out, info.diffDigest);
	putString(out, info.compressedDiffDigest);
	putTime(out, info.created);
	putNumber(out, info.diffSize);
	putList(out, info.names);
	block_ = detail::PackedBlock(out);
}

LayerPtr PackedLayer::unpack(std::string_view link) const
{
	if (!block_)
		return nullptr;
	Cursor c(block_);
	auto info = std::make_shared<LayerInfo>();
	info->id = c.string();
	info->parent = c.string();
	info->diffDigest = c.string();
	info->compressedDiffDigest = c.string();
	info->created = c.string();
	info->diffSize = c.number();
	info->names = c.list();
	info->link = link;
	return info;
}

std::optional<Id> PackedLayer::key() const noexcept
{
	return Cursor(block_).key();
}

std::string PackedLayer::id() const
{
	return Cursor(block_).string();
}

std::string PackedLayer::parent() const
{
	return Cursor(block_, 1).string();
}

std::optional<Id> PackedLayer::parentKey() const
{
	return Cursor(block_, 1).key();
}

std::string PackedLayer::diffDigest() const
{
	return Cursor(block_, 2).string();
}

std::string PackedLayer::compressedDiffDigest() const
{
	return Cursor(block_, 3).string();
}

PackedImage::PackedImage(const ImageInfo &info)
{
	std::string out;
	putString(out, info.id);
	putString(out, info.topLayer);
	putString(out, info.digest);
	putTime(out, info.created);
	putList(out, info.names);
	putList(out, info.bigDataNames, Id::parse(info.id));
	block_ = detail::PackedBlock(out);
}

ImagePtr PackedImage::unpack() const
{
	if (!block_)
		return nullptr;
	Cursor c(block_);
	auto info = std::make_shared<ImageInfo>();
	info->id = c.string();
	info->topLayer = c.string();
	info->digest = c.string();
	info->created = c.string();
	info->names = c.list();
	info->bigDataNames = c.list();
	return info;
}

std::optional<Id> PackedImage::key() const noexcept
{
	return Cursor(block_).key();
}

std::string PackedImage::id() const
{
	return Cursor(block_).string();
}

std::string PackedImage::topLayer() const
{
	return Cursor(block_, 1).string();
}

std::optional<Id> PackedImage::topLayerKey() const
{
	return Cursor(block_, 1).key();
}

std::string PackedImage::digest() const
{
	return Cursor(block_, 2).string();
}

std::vector<std::string> PackedImage::names() const
{
	return Cursor(block_, 4).list();
}

} // namespace lw

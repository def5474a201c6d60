// Ids between their hex names and their 32 bytes.
#include "id.h"

#include <layerwatch/model.h>

namespace lw {

namespace {

int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; // isValidId has ruled out everything else
}

} // namespace

std::optional<Id> Id::parse(std::string_view hex)
{
	if (!isValidId(hex))
		return std::nullopt;
	Id id;
	for (std::size_t i = 0; i < id.bytes_.size(); ++i)
		id.bytes_[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
	return id;
}

namespace {
constexpr std::string_view kSha256 = "sha256:";
} // namespace

std::optional<Id> Id::parseDigest(std::string_view digest)
{
	return digest.starts_with(kSha256) ? parse(digest.substr(kSha256.size())) : std::nullopt;
}

std::string Id::digest() const
{
	return std::string(kSha256) + hex();
}

std::string Id::hex() const
{
	static constexpr char kDigits[] = "0123456789abcdef";
	std::string out(2 * bytes_.size(), '0');
	for (std::size_t i = 0; i < bytes_.size(); ++i) {
		out[2 * i] = kDigits[bytes_[i] >> 4];
		out[2 * i + 1] = kDigits[bytes_[i] & 0xf];
	}
	return out;
}

} // namespace lw

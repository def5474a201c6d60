// Escaping for terminal output.
#include "text_out.h"

#include <fmt/format.h>

namespace lwcli {

namespace {

// The code point of the UTF-8 sequence at text[at] and its length, or length 0 when
// the bytes there are not valid UTF-8 (overlong, surrogate, cut short, > U+10FFFF).
std::pair<char32_t, std::size_t> decodeUtf8(std::string_view text, std::size_t at)
{
	auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
	unsigned char lead = byte(at);
	std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
	if (length == 0 || at + length > text.size())
		return {0, 0};
	char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
	for (std::size_t i = 1; i < length; ++i) {
		if ((byte(at + i) & 0xC0) != 0x80)
			return {0, 0};
		cp = (cp << 6) | (byte(at + i) & 0x3F);
	}
	static constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < kSmallest[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return {0, 0};
	return {cp, length};
}

bool isControl(char32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

} // namespace

std::string printable(std::string_view text)
{
	std::string out;
	out.reserve(text.size());
	for (std::size_t at = 0; at < text.size();) {
		auto [cp, length] = decodeUtf8(text, at);
		if (length == 0) {
			out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[at]));
			++at;
			continue;
		}
		if (cp == '\\')
			out += "\\\\";
		else if (cp < 0x80 && isControl(cp))
			out += fmt::format("\\x{:02x}", static_cast<unsigned>(cp));
		else if (isControl(cp))
			out += fmt::format("\\u{{{:04x}}}", static_cast<unsigned>(cp));
		else
			out.append(text.substr(at, length));
		at += length;
	}
	return out;
}

void writeAll(std::FILE *out, std::string_view text)
{
	std::fwrite(text.data(), 1, text.size(), out);
}

} // namespace lwcli

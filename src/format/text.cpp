// Text helpers for error messages.
#include "text.h"

#include <fmt/format.h>

namespace lw {

std::string quoteForMessage(std::string_view text)
{
	constexpr std::size_t kMax = 80; // an id and then some
	std::string out = "\"";
	for (char c : text.substr(0, kMax)) {
		auto u = static_cast<unsigned char>(c);
		if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\')
			out += fmt::format("\\x{:02x}", u);
		else
			out += c;
	}
	if (text.size() > kMax)
		out += "...";
	return out + "\"";
}

} // namespace lw

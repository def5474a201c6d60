// Ids, link names, big-data file names and the link/lower files of an overlay layer.
#include <layerwatch/model.h>

#include "text.h"

#include <fmt/format.h>

namespace lw {

namespace {

bool isLowerHex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool isLowerAlnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

template <class Pred>
bool allOf(std::string_view s, Pred pred)
{
	for (char c : s)
		if (!pred(c))
			return false;
	return true;
}

} // namespace

bool isValidId(std::string_view name)
{
	return name.size() == kIdLength && allOf(name, isLowerHex);
}

bool isValidLinkName(std::string_view name)
{
	return name.size() == kLinkLength && allOf(name, isLowerAlnum);
}

std::string base64Encode(std::string_view bytes)
{
	static constexpr char kAlphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	std::string out;
	out.reserve((bytes.size() + 2) / 3 * 4);
	std::size_t i = 0;
	for (; i + 3 <= bytes.size(); i += 3) {
		unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
			     (static_cast<unsigned char>(bytes[i + 1]) << 8) |
			     static_cast<unsigned char>(bytes[i + 2]);
		out += kAlphabet[(v >> 18) & 63];
		out += kAlphabet[(v >> 12) & 63];
		out += kAlphabet[(v >> 6) & 63];
		out += kAlphabet[v & 63];
	}
	std::size_t rest = bytes.size() - i;
	if (rest > 0) {
		unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
		if (rest == 2)
			v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
		out += kAlphabet[(v >> 18) & 63];
		out += kAlphabet[(v >> 12) & 63];
		out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
		out += '=';
	}
	return out;
}

std::string bigDataFileName(std::string_view key)
{
	// "." and ".." would name the folder itself or its parent, never a file.
	bool plain = !key.empty() && key != "." && key != ".." &&
		     allOf(key, [](char c) { return isLowerAlnum(c) || c == '.'; });
	return plain ? std::string(key) : "=" + base64Encode(key);
}

Result<std::string> parseLinkFile(std::string_view content)
{
	// iSulad writes no newline; a hand-written file may end with one.
	if (!content.empty() && content.back() == '\n')
		content.remove_suffix(1);
	if (!isValidLinkName(content))
		return makeError(EINVAL, fmt::format("link: {} is not 26 characters of [0-9a-z]",
						     quoteForMessage(content)));
	return std::string(content);
}

Result<std::vector<std::string>> parseLowerFile(std::string_view content)
{
	if (!content.empty() && content.back() == '\n')
		content.remove_suffix(1);
	if (content.empty())
		return makeError(EINVAL, "lower: empty (a base layer has empty/ instead)");
	std::vector<std::string> links;
	std::size_t start = 0;
	while (start <= content.size()) {
		std::size_t end = content.find(':', start);
		if (end == std::string_view::npos)
			end = content.size();
		if (links.size() == kMaxLowerEntries)
			return makeError(EINVAL, fmt::format("lower: more than {} entries",
							     kMaxLowerEntries));
		std::string_view entry = content.substr(start, end - start);
		if (!entry.starts_with("l/") || !isValidLinkName(entry.substr(2)))
			return makeError(EINVAL, fmt::format("lower: entry {} is not l/<26 characters of [0-9a-z]>",
							     quoteForMessage(entry)));
		links.emplace_back(entry.substr(2));
		start = end + 1;
	}
	return links;
}

std::string formatLowerFile(const std::vector<std::string> &links)
{
	std::string out;
	for (const auto &link : links) {
		if (!out.empty())
			out += ':';
		out += "l/" + link;
	}
	return out;
}

} // namespace lw

// The image reference grammar of distribution/reference, checked in one pass. (Not
// with std::regex: its backtracking takes seconds on 26 letters and a '!', as the
// grammar's "[a-z0-9]+(?:[-]*[a-z0-9]+)*" can split a run of letters every way.)
#include "reference.h"

#include <vector>

namespace lwcli {

namespace {

constexpr std::size_t kMaxNameLength = 255;
constexpr std::size_t kMaxTagLength = 128;
constexpr std::size_t kMinDigestHex = 32;

bool isLowerAlnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool isAlnum(char c)
{
	return isLowerAlnum(c) || (c >= 'A' && c <= 'Z');
}

bool isWord(char c)
{
	return isAlnum(c) || c == '_';
}

bool isHex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::vector<std::string_view> split(std::string_view text, char by)
{
	std::vector<std::string_view> parts;
	for (std::size_t at = 0;;) {
		auto next = text.find(by, at);
		parts.push_back(text.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
		if (next == std::string_view::npos)
			return parts;
		at = next + 1;
	}
}

// [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*: runs of lowercase letters and digits, joined
// by one separator each.
bool isPathComponent(std::string_view c)
{
	if (c.empty() || !isLowerAlnum(c.front()) || !isLowerAlnum(c.back()))
		return false;
	for (std::size_t at = 0; at < c.size();) {
		if (isLowerAlnum(c[at])) {
			++at;
			continue;
		}
		std::size_t end = at;
		while (end < c.size() && !isLowerAlnum(c[end]))
			++end;
		std::string_view sep = c.substr(at, end - at);
		bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
		if (sep != "." && sep != "_" && sep != "__" && !dashes)
			return false;
		at = end;
	}
	return true;
}

// A host name ([a-zA-Z0-9] or [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9], dot-joined) and an
// optional :port.
bool isDomain(std::string_view d)
{
	auto colon = d.find(':');
	if (colon != std::string_view::npos) {
		std::string_view port = d.substr(colon + 1);
		if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
			return false;
		d = d.substr(0, colon);
	}
	for (std::string_view part : split(d, '.')) {
		if (part.empty() || !isAlnum(part.front()) || !isAlnum(part.back()))
			return false;
		for (char c : part)
			if (!isAlnum(c) && c != '-')
				return false;
	}
	return true;
}

// [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,}
bool isDigest(std::string_view d)
{
	auto colon = d.find(':');
	if (colon == std::string_view::npos || d.size() - colon - 1 < kMinDigestHex)
		return false;
	for (char c : d.substr(colon + 1))
		if (!isHex(c))
			return false;
	std::string_view algorithm = d.substr(0, colon);
	bool atStart = true;
	for (char c : algorithm) {
		if (atStart && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
		atStart = c == '-' || c == '_' || c == '+' || c == '.';
		if (!atStart && !isAlnum(c))
			return false;
	}
	return !algorithm.empty() && !atStart;
}

bool isTag(std::string_view t)
{
	if (t.empty() || t.size() > kMaxTagLength || !isWord(t.front()))
		return false;
	for (char c : t)
		if (!isWord(c) && c != '.' && c != '-')
			return false;
	return true;
}

} // namespace

std::optional<std::string> normalizedReference(std::string_view text)
{
	std::string_view rest = text;
	bool hasDigest = false;
	if (auto at = rest.find('@'); at != std::string_view::npos) {
		if (!isDigest(rest.substr(at + 1)))
			return std::nullopt;
		hasDigest = true;
		rest = rest.substr(0, at);
	}
	// The tag follows the last ':' after the last '/' (a ':' before a '/' is a port).
	bool hasTag = false;
	if (auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
		if (!isTag(rest.substr(colon + 1)))
			return std::nullopt;
		hasTag = true;
		rest = rest.substr(0, colon);
	}
	if (rest.empty() || rest.size() > kMaxNameLength)
		return std::nullopt;
	auto components = split(rest, '/');
	// The first component is a domain only when it looks like one (docker's rule):
	// it has a dot, a port or a capital, or is localhost; "library/app" is all path.
	std::size_t first = 0;
	if (components.size() > 1) {
		std::string_view c = components[0];
		if (c.find_first_of(".:ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos || c == "localhost") {
			if (!isDomain(c))
				return std::nullopt;
			first = 1;
		}
	}
	for (std::size_t i = first; i < components.size(); ++i)
		if (!isPathComponent(components[i]))
			return std::nullopt;
	std::string out(text);
	if (!hasTag && !hasDigest)
		out += ":latest";
	return out;
}

} // namespace lwcli

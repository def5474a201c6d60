// The image reference grammar of distribution/reference, as regular expressions.
#include "reference.h"

#include <regex>

namespace lwcli {

namespace {

const std::string kDomainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const std::string kDomain = kDomainComponent + "(?:\\." + kDomainComponent + ")*(?::[0-9]+)?";
const std::string kPathComponent = "[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*";
const std::string kTag = "[\\w][\\w.-]{0,127}";
const std::string kDigest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

// The domain is there only when the first component looks like one (docker's rule):
// it has a dot or a port, or is localhost; "library/app" is a path.
const std::regex kReference("^(?:(" + kDomain + ")/)?(" + kPathComponent + "(?:/" + kPathComponent + ")*)(?::(" + kTag +
			    "))?(?:@(" + kDigest + "))?$");

constexpr std::size_t kMaxNameLength = 255;

} // namespace

std::optional<std::string> normalizedReference(std::string_view text)
{
	std::string s(text);
	std::smatch m;
	if (!std::regex_match(s, m, kReference))
		return std::nullopt;
	std::string domain = m[1].str();
	bool domainLike = domain.empty() || domain.find_first_of(".:") != std::string::npos || domain == "localhost";
	if (!domainLike) {
		// "Library/app": an uppercase first component is neither a domain nor a path.
		for (char c : domain)
			if (c >= 'A' && c <= 'Z')
				return std::nullopt;
	}
	std::size_t nameLength = (domain.empty() ? 0 : domain.size() + 1) + m[2].length();
	if (nameLength > kMaxNameLength)
		return std::nullopt;
	if (!m[3].matched && !m[4].matched)
		s += ":latest";
	return s;
}

} // namespace lwcli

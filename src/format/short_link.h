// A short link's name (overlay/l/<link>), held in place: kLinkLength characters of
// [0-9a-z]. A std::string of 26 characters costs a heap block besides, and every
// layer's link is held several times (its overlay, the claims on it, the store) and
// listed again in each child's lower.
#pragma once

#include <layerwatch/model.h>

#include <array>
#include <compare>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lw {

class ShortLink {
public:
	ShortLink() = default; // none
	// A valid link name (isValidLinkName), nothing for anything else.
	static std::optional<ShortLink> parse(std::string_view name)
	{
		if (!isValidLinkName(name))
			return std::nullopt;
		ShortLink link;
		name.copy(link.chars_.data(), link.chars_.size());
		return link;
	}

	bool empty() const { return chars_[0] == '\0'; }
	std::string_view view() const { return empty() ? std::string_view() : std::string_view(chars_.data(), chars_.size()); }
	std::string str() const { return std::string(view()); }
	auto operator<=>(const ShortLink &) const = default;
	bool operator==(const ShortLink &) const = default;

private:
	std::array<char, kLinkLength> chars_{};
};

struct ShortLinkHash {
	std::size_t operator()(const ShortLink &link) const noexcept { return std::hash<std::string_view>{}(link.view()); }
};

} // namespace lw

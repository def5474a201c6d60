// RareString: a string that most of its holders leave empty (an item's problem, a
// verdict's reason), held in a pointer's size: 8 bytes where std::string takes 32, in
// nodes kept for every item of the store.
#pragma once

#include <memory>
#include <string>

namespace lw {

class RareString {
public:
	RareString() = default;
	RareString(std::string text)
		: text_(text.empty() ? nullptr : std::make_unique<const std::string>(std::move(text)))
	{
	}
	RareString(const char *text) : RareString(std::string(text)) {}
	RareString(const RareString &other) : RareString(other.str()) {}
	RareString(RareString &&) noexcept = default;
	RareString &operator=(const RareString &other)
	{
		if (this != &other)
			*this = RareString(other);
		return *this;
	}
	RareString &operator=(RareString &&) noexcept = default;

	bool empty() const noexcept { return !text_; }
	const std::string &str() const noexcept
	{
		static const std::string none;
		return text_ ? *text_ : none;
	}
	operator const std::string &() const noexcept { return str(); }
	bool operator==(const RareString &other) const { return str() == other.str(); }

private:
	std::unique_ptr<const std::string> text_;
};

} // namespace lw

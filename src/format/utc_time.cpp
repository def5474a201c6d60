// RFC 3339 UTC times to numbers and back, exactly.
#include "utc_time.h"

#include <fmt/format.h>

#include <chrono>

namespace lw {

namespace {

constexpr std::int64_t kDaySeconds = 86400;

// The decimal number text[at, at + n): digits only.
std::optional<std::uint32_t> digitsAt(std::string_view text, std::size_t at, std::size_t n)
{
	std::uint32_t value = 0;
	for (std::size_t i = at; i < at + n; ++i) {
		if (text[i] < '0' || text[i] > '9')
			return std::nullopt;
		value = value * 10 + static_cast<std::uint32_t>(text[i] - '0');
	}
	return value;
}

} // namespace

std::optional<UtcTime> parseUtc(std::string_view text)
{
	// "YYYY-MM-DDTHH:MM:SS", then "." and 1 to 9 digits or nothing, then "Z".
	constexpr std::size_t kWhole = 19;
	if (text.size() < kWhole + 1 || text.size() > kWhole + 11 || text.back() != 'Z' || text[4] != '-' ||
	    text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':')
		return std::nullopt;
	auto year = digitsAt(text, 0, 4), month = digitsAt(text, 5, 2), day = digitsAt(text, 8, 2);
	auto hour = digitsAt(text, 11, 2), minute = digitsAt(text, 14, 2), second = digitsAt(text, 17, 2);
	if (!year || !month || !day || !hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 59)
		return std::nullopt;
	std::chrono::year_month_day date{std::chrono::year(static_cast<int>(*year)), std::chrono::month(*month),
					 std::chrono::day(*day)};
	if (!date.ok())
		return std::nullopt;
	UtcTime time;
	if (std::size_t rest = text.size() - kWhole - 1; rest > 0) {
		if (text[kWhole] != '.' || rest < 2)
			return std::nullopt;
		time.digits = static_cast<std::uint8_t>(rest - 1);
		auto fraction = digitsAt(text, kWhole + 1, time.digits);
		if (!fraction)
			return std::nullopt;
		time.nanos = *fraction;
		for (int i = time.digits; i < 9; ++i)
			time.nanos *= 10;
	}
	time.seconds = std::int64_t(std::chrono::sys_days(date).time_since_epoch().count()) * kDaySeconds +
		       *hour * 3600 + *minute * 60 + *second;
	if (formatUtc(time) != text)
		return std::nullopt; // what it says would not come back the same
	return time;
}

std::string formatUtc(const UtcTime &time)
{
	std::int64_t days = time.seconds / kDaySeconds - (time.seconds % kDaySeconds < 0); // floored
	std::int64_t second = time.seconds - days * kDaySeconds;
	std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(days))};
	std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
				      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), second / 3600,
				      second / 60 % 60, second % 60);
	if (time.digits > 0) {
		std::uint32_t fraction = time.nanos;
		for (int i = time.digits; i < 9; ++i)
			fraction /= 10;
		out += fmt::format(".{:0{}}", fraction, time.digits);
	}
	out += 'Z';
	return out;
}

} // namespace lw

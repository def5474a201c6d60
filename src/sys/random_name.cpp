// Unpredictable names from getrandom(2).
#include "random_name.h"

#include <sys/random.h>

#include <cerrno>
#include <random>

namespace lw {

std::string randomAlnum(std::size_t n)
{
	static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	std::string bytes(n, '\0');
	std::size_t got = 0;
	while (got < n) {
		ssize_t r = ::getrandom(bytes.data() + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += static_cast<std::size_t>(r);
	}
	if (got < n) {
		// getrandom failing is near impossible; fall back rather than fail a write.
		std::random_device rd;
		for (; got < n; ++got)
			bytes[got] = static_cast<char>(rd());
	}
	std::string out(n, '0');
	for (std::size_t i = 0; i < n; ++i)
		out[i] = kAlphabet[static_cast<unsigned char>(bytes[i]) % 36];
	return out;
}

std::string temporaryName(std::string_view purpose, std::string_view stem)
{
	std::string name = ".";
	name += purpose;
	name += '-';
	name += stem.substr(0, 64);
	name += '-';
	name += randomAlnum(10);
	return name;
}

} // namespace lw

// A mount of the network filesystem simulator (test/netsim): a tree as a host sees it
// over NFS, with a round trip per operation, caches, counts and faults.
#pragma once

#include <cstdint>
#include <string>

namespace lw::test {

struct NetsimOptions {
	long delayUs = 200;          // a LAN round trip
	double attrTimeout = 1;      // seconds the kernel trusts attributes and lookups
	bool cacheReaddir = true;    // listings kept until the folder changes
	bool coarseTimes = false;    // whole seconds only
};

class NetsimMount {
public:
	NetsimMount(const std::string &from, const std::string &to, NetsimOptions options = {});
	~NetsimMount(); // unmounts
	NetsimMount(const NetsimMount &) = delete;
	NetsimMount &operator=(const NetsimMount &) = delete;

	bool mounted() const { return mounted_; }
	// Operations the server answered since the last reset (not the two files').
	std::uint64_t operations() const;
	void resetCounts();
	// "fail ERRNO TEXT", "stall TEXT", "clear" (see netsim.c).
	void control(const std::string &command);

private:
	std::string to_;
	bool mounted_ = false;
};

// Path of the simulator, or "" where it was not built (no libfuse3).
std::string netsimPath();

} // namespace lw::test

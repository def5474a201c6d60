// The three trees of a store through netsim (test/netsim), as sections 6 and 6b mount
// them: a host's view of an NFS export.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lw::bench {

// The three trees of a store through netsim (test/netsim): delayUs a round trip,
// attributes and lookups cached 60 s (NFS's acdirmax), listings kept until their folder
// changes. Unmounted when it goes.
struct SimulatedNetwork {
	std::vector<std::string> mounts;
	SimulatedNetwork(const std::string &server, const std::string &reader, long delayUs);
	~SimulatedNetwork();
	SimulatedNetwork(const SimulatedNetwork &) = delete;
	SimulatedNetwork &operator=(const SimulatedNetwork &) = delete;
	// What the server answered since the mount.
	std::uint64_t operations() const;
	// The server's requests in flight as each arrived (itself counted), on average
	// over every operation since the mount.
	double inFlightMean() const;
};

// Whether netsim can be mounted here (root, /dev/fuse, libfuse3).
bool netsimAvailable();


} // namespace lw::bench

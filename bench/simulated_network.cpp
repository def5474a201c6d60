// Mounting netsim for a section (simulated_network.h).
#include "simulated_network.h"

#include <fmt/format.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace lw::bench {

SimulatedNetwork::SimulatedNetwork(const std::string &server, const std::string &reader, long delayUs)
{
	for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"}) {
		std::filesystem::create_directories(reader + "/" + tree);
		std::string command = fmt::format("{} --delay-us={} --attr-timeout=60 --entry-timeout=60 --cache-readdir "
						  "{}/{} {}/{}", LW_NETSIM_PATH, delayUs, server, tree, reader, tree);
		if (std::system(command.c_str()) != 0) {
			// Those mounted go now: no destructor runs for a constructor that throws,
			// and a folder left mounted under the work folder is one its clean-up
			// would delete through.
			for (const auto &m : mounts)
				::umount2(m.c_str(), MNT_DETACH);
			throw std::runtime_error("netsim did not mount " + reader + "/" + tree);
		}
		mounts.push_back(reader + "/" + tree);
	}
}

SimulatedNetwork::~SimulatedNetwork()
{
	for (const auto &m : mounts)
		::umount2(m.c_str(), MNT_DETACH);
}

namespace {

// A number in a mount's stats file ("\"key\":N"), 0 when it is not there.
double statOf(const std::string &mount, const std::string &key)
{
	std::ifstream in(mount + "/.netsim-stats");
	std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	auto at = text.find("\"" + key + "\":");
	return at == std::string::npos ? 0 : std::stod(text.substr(at + key.size() + 3));
}

} // namespace

std::uint64_t SimulatedNetwork::operations() const
{
	std::uint64_t n = 0;
	for (const auto &m : mounts)
		n += static_cast<std::uint64_t>(statOf(m, "total"));
	return n;
}

double SimulatedNetwork::inFlightMean() const
{
	double weighted = 0, total = 0;
	for (const auto &m : mounts) {
		double ops = statOf(m, "total");
		weighted += ops * statOf(m, "in_flight_mean");
		total += ops;
	}
	return total > 0 ? weighted / total : 0;
}

bool netsimAvailable()
{
	return !std::string(LW_NETSIM_PATH).empty() && ::geteuid() == 0 && ::access("/dev/fuse", R_OK | W_OK) == 0;
}

} // namespace lw::bench

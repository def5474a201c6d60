// The benchmark's sections, a file each (bench/section_*.cpp), and what they share:
// the run's context and section 1's latency sampler (section 2c samples alike).
#pragma once

#include "bench_common.h"

#include <layerwatch/watcher.h>

#include <string>
#include <vector>

namespace lw::bench {

// What every section runs with (the command line's), and the report it fills.
struct Context {
	std::string work; // the sections' stores, made under it
	std::string out;  // the *.dat files for the plot
	bool quick = false;
	Report &report;
};

// ---- 1. local latency against the kernel floor (section_local.cpp) ----

// 1, then the price of fanotify's filesystem-wide mark.
void runLocal(const Context &context);

struct LatencySamples {
	std::vector<double> ours, floor, handOff;
	double loadMs = 0;   // start() to the initial load adopted
	WatcherStats loaded; // stats then
};

// count images published one at a time into the store at root (whose base layer is
// base), each timed from its manifest's rename to image_added, with a floor sample
// taken before each (interleaved: both see the same machine).
LatencySamples latencySamples(const std::string &root, const std::string &base, WatchMode mode, int count,
			      const std::string &tag);

// ---- 2. scale (section_scale.cpp) ----

// 2, then 2b and 3 on the 10 000-image store 2 made.
void runScale(const Context &context);

// ---- 2b. kernel memory held for 10 000 images (section_kernel_memory.cpp) ----

void kernelMemory(const std::string &tenKStore, Report &report);

// ---- 2c. 100 000 images under fanotify (section_hundredk.cpp) ----

void runHundredThousand(const Context &context);

// ---- 3. idle rescan against the seed's pass (section_idle_rescan.cpp) ----

void idleRescan(const std::string &root, Report &report);

// ---- 4. remote detection over bindfs (section_remote.cpp) ----

void runRemote(const Context &context);

// ---- 5. storm (section_storm.cpp) ----

void runStorm(const Context &context);

// ---- 6. remote over a simulated network (section_netsim.cpp) ----

void runNetsim(const Context &context);

// ---- 6b. the fleet: many readers on one server (section_fleet.cpp) ----

void runFleet(const Context &context);

} // namespace lw::bench

// layerwatch's benchmarks, each measured side by side with its baseline in one run
// (quote ratios and medians: these machines are shared and noisy). The sections, in
// the order a full run takes them (kSections below; --only NAME runs one of them):
//   local     1 local latency under inotify and fanotify, against a bare inotify reader
//               and the hand-off floor; the price of fanotify's filesystem-wide mark
//   scale     2 initial load of 1k/10k/100k images against a plain crawl of the same
//               tree, and the memory it keeps;
//             2b kernel memory held for 10k (watches or marks);
//             3 idle rescan CPU of a 10 000-image store, against a seed-style pass
//   hundredk  2c 100k images under fanotify (full runs only, or --only hundredk)
//   remote    4 remote detection over bindfs at several intervals, and CPU per idle tick
//   storm     5 images written as fast as possible until the store matches a full scan
//   netsim    6 remote over a simulated network (netsim): the load against a plain
//               32-thread crawl at 200 µs and at 0 µs, the 10 s after ready, idle ticks,
//               the seed's pass, detection; and the load's time on a real NFS client
//               as a model
//   fleet     6b server operations for 10 to 10 000 readers at 1 s, 5 s and 30 s, from
//               one host's idle ticks, checked against 8 readers measured on one export
// usage: layerwatch_bench [--quick] [--only SECTION] --out DIR [--work DIR]
// Writes DIR/results.json, DIR/BENCHMARKS.md and DIR/*.dat (for the plot).
// Each section is a file, bench/section_*.cpp (sections.h); the baselines they share
// are bench/baselines.cpp, the small tools bench/bench_common.cpp.
#include "bench_common.h"
#include "sections.h"

#include <fmt/format.h>

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

using namespace lw::bench;

namespace {

// A section as main and --only see it.
struct Section {
	const char *name;
	void (*run)(const Context &);
	// Left out of a --quick run unless --only names it (it takes most of a full run).
	bool fullOnly;
};

// In the order a full run takes them (the report's order).
constexpr Section kSections[] = {
	{"local", runLocal, false},
	{"scale", runScale, false},
	{"hundredk", runHundredThousand, true},
	{"remote", runRemote, false},
	{"storm", runStorm, false},
	{"netsim", runNetsim, false},
	{"fleet", runFleet, false},
};

int usage()
{
	std::string names;
	for (const auto &section : kSections)
		names += fmt::format("{}{}", names.empty() ? "" : ", ", section.name);
	std::fprintf(stderr, "usage: layerwatch_bench [--quick] [--only SECTION] --out DIR [--work DIR]\n"
			     "SECTION: one of %s\n", names.c_str());
	return 2;
}

} // namespace

int main(int argc, char **argv)
{
	bool quick = false;
	std::string out, work, only;
	for (int i = 1; i < argc; ++i) {
		std::string a = argv[i];
		if (a == "--quick")
			quick = true;
		else if (a == "--out" && i + 1 < argc)
			out = argv[++i];
		else if (a == "--work" && i + 1 < argc)
			work = argv[++i];
		else if (a == "--only" && i + 1 < argc)
			only = argv[++i]; // one section of kSections
		else
			return usage();
	}
	if (out.empty())
		return usage();
	// A name no section has would run nothing and write an empty report: refused.
	if (!only.empty() && std::none_of(std::begin(kSections), std::end(kSections),
					  [&](const Section &s) { return only == s.name; }))
		return usage();
	bool ownWork = work.empty();
	if (ownWork) {
		work = std::filesystem::temp_directory_path() / "layerwatch-bench-XXXXXX";
		if (!::mkdtemp(work.data()))
			return 1;
	}
	std::filesystem::create_directories(out);
	Report report;
	Context context{.work = work, .out = out, .quick = quick, .report = report};
	int status = 0;
	try {
		auto started = Clock::now();
		for (const auto &section : kSections)
			if (only.empty() ? !(quick && section.fullOnly) : only == section.name)
				section.run(context);
		report.add("total_seconds", since(started) / 1000);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "layerwatch_bench: %s\n", e.what());
		status = 1;
	}
	if (ownWork)
		std::filesystem::remove_all(work);
	std::string json = "{\n  \"mode\": \"" + std::string(quick ? "quick" : "full") + "\"";
	for (const auto &j : report.json)
		json += ",\n  " + j;
	writeText(out + "/results.json", json + "\n}\n");
	std::string md = fmt::format("# layerwatch benchmarks\n\nMode: {}. Produced by `scripts/bench{}` on {} cores; "
				     "figures from one run, baselines measured in the same run.\n\n"
				     "## Targets\n\n| target | figure | |\n| --- | --- | --- |\n",
				     quick ? "quick" : "full", quick ? " --quick" : "", std::thread::hardware_concurrency());
	for (const auto &t : report.targets)
		md += t + "\n";
	md += "\n![latency distributions](bench/latency.png)\n\n" + report.markdown;
	writeText(out + "/BENCHMARKS.md", md);
	return status;
}

// Section 6: remote over a simulated network (netsim, 200 µs a round trip): the load,
// an idle tick and detection, against the seed's pass on the same mount.
#include "baselines.h"
#include "bench_common.h"
#include "sections.h"
#include "store_generator.h"

#include "root.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <sys/mount.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace lw::bench {

namespace {

// The three trees of a store through netsim (test/netsim): 200 µs a round trip,
// attributes and lookups cached 60 s (NFS's acdirmax), listings kept until their folder
// changes. Unmounted when it goes.
struct SimulatedNetwork {
	std::vector<std::string> mounts;
	SimulatedNetwork(const std::string &server, const std::string &reader, long delayUs)
	{
		for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"}) {
			std::filesystem::create_directories(reader + "/" + tree);
			std::string command = fmt::format("{} --delay-us={} --attr-timeout=60 --entry-timeout=60 --cache-readdir "
							  "{}/{} {}/{}", LW_NETSIM_PATH, delayUs, server, tree, reader, tree);
			if (std::system(command.c_str()) != 0)
				throw std::runtime_error("netsim did not mount");
			mounts.push_back(reader + "/" + tree);
		}
	}
	~SimulatedNetwork()
	{
		for (const auto &m : mounts)
			::umount2(m.c_str(), MNT_DETACH);
	}
	std::uint64_t operations() const
	{
		std::uint64_t n = 0;
		for (const auto &m : mounts) {
			std::ifstream in(m + "/.netsim-stats");
			std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
			auto at = text.find("\"total\":");
			if (at != std::string::npos)
				n += std::stoull(text.substr(at + 8));
		}
		return n;
	}
};

void simulatedNetwork(const std::string &work, bool quick, Report &report)
{
	report.markdown += "## 6. Remote over a simulated network (netsim, 200 µs a round trip)\n\n";
	if (std::string(LW_NETSIM_PATH).empty() || ::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
		report.markdown += "Skipped: needs root, /dev/fuse and libfuse3 (netsim).\n\n";
		say("netsim: skipped");
		return;
	}
	report.markdown +=
		"Each tree of a registry-shaped store reaches the reader through netsim: 200 µs per\n"
		"operation, attributes and lookups cached 60 s, listings kept until their folder\n"
		"changes. Server operations are counted by netsim. The seed's pass (list, read every\n"
		"manifest, `images.json` and `layer.json`) runs on the same mount in the same run.\n"
		"In brackets, the same load through netsim with no delay: the simulator's own ceiling\n"
		"on this machine, where its FUSE round trips share the cores with the reader.\n\n"
		"| images | layers | initial load | its operations | seed's pass | its operations | "
		"idle tick (5 s) operations | CPU per idle tick |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n";
	std::vector<unsigned long> sizes = quick ? std::vector<unsigned long>{1000} : std::vector<unsigned long>{1000, 10000};
	std::string latencyRows;
	for (unsigned long images : sizes) {
		std::string server = fresh(work, fmt::format("net-server-{}", images));
		std::string reader = fresh(work, fmt::format("net-reader-{}", images));
		auto made = lwbench::generateStore(server, images, lwbench::ChainShape::Shared);
		if (!made)
			throw std::runtime_error(made.error().message);
		SimulatedNetwork net(server, reader, 200);

		auto rootFd = openRoot(reader);
		std::uint64_t o0 = net.operations();
		auto s0 = Clock::now();
		(void)seedPass(rootFd->get());
		double seedMs = since(s0);
		std::uint64_t seedOps = net.operations() - o0;

		AddedLog loadLog;
		std::uint32_t interval = 5000;
		auto watcher = Watcher::create({.root = reader, .intervalMs = interval, .commitLinks = false}, loadLog.sink());
		o0 = net.operations();
		auto l0 = Clock::now();
		if (!watcher || !(*watcher)->start())
			throw std::runtime_error("netsim watcher did not start");
		if (!loadLog.waitReady(300s))
			throw std::runtime_error("netsim load never finished");
		double loadMs = since(l0);
		std::uint64_t loadOps = net.operations() - o0;

		// Idle ticks at the default 5 s interval, once the folders are past the racy window.
		int ticks = quick ? 2 : 4;
		std::this_thread::sleep_for(std::chrono::milliseconds(interval));
		o0 = net.operations();
		double c0 = processCpuMs();
		std::this_thread::sleep_for(std::chrono::milliseconds(interval) * ticks);
		double opsPerTick = static_cast<double>(net.operations() - o0) / ticks;
		double cpuPerTick = (processCpuMs() - c0) / ticks;
		(*watcher)->stop();
		(*watcher)->join();

		// The same load with no delay at all: what the simulator itself allows on this
		// machine (its FUSE round trips share the cores with the reader).
		double ceilingMs = 0;
		{
			std::string reader0 = fresh(work, fmt::format("net-reader0-{}", images));
			SimulatedNetwork fast(server, reader0, 0);
			AddedLog fastLog;
			auto w0 = Watcher::create({.root = reader0, .intervalMs = interval, .commitLinks = false}, fastLog.sink());
			auto t0 = Clock::now();
			if (!w0 || !(*w0)->start() || !fastLog.waitReady(300s))
				throw std::runtime_error("netsim watcher did not load");
			ceilingMs = since(t0);
			(*w0)->stop();
			(*w0)->join();
		}
		report.add(fmt::format("net_{}_load_no_delay_s", images), ceilingMs / 1000);
		report.markdown += fmt::format("| {} | {} | {:.2f} s ({:.2f} s at 0 µs) | {} | {:.2f} s | {} | {:.0f} | {:.2f} ms |\n", made->images,
					       made->layers, loadMs / 1000, ceilingMs / 1000, loadOps, seedMs / 1000, seedOps,
					       opsPerTick, cpuPerTick);
		report.add(fmt::format("net_{}_load_s", images), loadMs / 1000);
		report.add(fmt::format("net_{}_load_ops", images), static_cast<double>(loadOps));
		report.add(fmt::format("net_{}_seed_pass_s", images), seedMs / 1000);
		report.add(fmt::format("net_{}_seed_pass_ops", images), static_cast<double>(seedOps));
		report.add(fmt::format("net_{}_idle_tick_ops", images), opsPerTick);
		report.add(fmt::format("net_{}_idle_tick_cpu_ms", images), cpuPerTick);
		say(fmt::format("netsim {}: load {:.2f} s ({} ops), seed pass {:.2f} s ({} ops), idle tick {:.0f} ops",
				images, loadMs / 1000, loadOps, seedMs / 1000, seedOps, opsPerTick));
		if (images == 10000) {
			report.target("10 000 images at 200 µs: idle tick at most 400 server operations (1 % of the seed's pass)",
				      fmt::format("{:.0f}", opsPerTick), opsPerTick <= 400);
			report.target("10 000 images at 200 µs: initial load within 6 s", fmt::format("{:.2f} s", loadMs / 1000),
				      loadMs <= 6000);
		}

		// Detection: an image published underneath, at a random phase of the tick.
		if (images != sizes.back())
			continue;
		auto writer = StoreWriter::open(server, {.durable = false, .makeLinks = false});
		std::string netBase(64, 'b');
		if (!writer || !writer->addLayer({.id = netBase}))
			throw std::runtime_error("cannot write behind netsim");
		std::mt19937 rng(7);
		std::vector<std::pair<std::uint32_t, int>> plan = quick ? std::vector<std::pair<std::uint32_t, int>>{{1000, 3}}
									: std::vector<std::pair<std::uint32_t, int>>{{1000, 10}, {5000, 5}};
		for (auto [every, samples] : plan) {
			AddedLog log;
			auto w = Watcher::create({.root = reader, .intervalMs = every, .commitLinks = false}, log.sink());
			if (!w || !(*w)->start() || !log.waitReady(300s))
				throw std::runtime_error("netsim watcher did not load");
			auto latencies = detectionLatencies(*writer, netBase, every, samples, "net", log, rng, 10s);
			(*w)->stop();
			(*w)->join();
			double p99 = percentile(latencies, 0.99);
			latencyRows += fmt::format("| {} | {} ms | {} | {:.0f} ms | {:.0f} ms |\n", made->images, every, samples,
						   median(latencies), p99);
			report.add(fmt::format("net_{}_detect_{}ms_p50_ms", images, every), median(latencies));
			report.add(fmt::format("net_{}_detect_{}ms_p99_ms", images, every), p99);
			report.target(fmt::format("a new image behind a 60 s attribute cache within interval + 1 s ({} ms)", every),
				      fmt::format("p99 {:.0f} ms", p99), p99 <= every + 1000);
		}
	}
	report.markdown += "\nDetection: an image published underneath (at a random phase of the tick) to\n"
			   "`image_added`, attributes cached 60 s.\n\n| images | interval | samples | p50 | p99 |\n"
			   "| --- | --- | --- | --- | --- |\n" + latencyRows + "\n";
}

} // namespace

void runNetsim(const Context &context)
{
	simulatedNetwork(context.work, context.quick, context.report);
}

} // namespace lw::bench

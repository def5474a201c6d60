// Section 4: remote detection over bindfs (written from underneath) at several
// intervals, and the CPU of an idle tick.
#include "bench_common.h"
#include "sections.h"
#include "store_generator.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace lw::bench {

namespace {

void remoteDetection(const std::string &work, const std::string &out, bool quick, Report &report)
{
	report.markdown += "## 4. Remote detection (bindfs, written from underneath)\n\n";
	if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0 || std::system("command -v bindfs >/dev/null") != 0) {
		report.markdown += "Skipped: needs root, /dev/fuse and bindfs.\n\n";
		say("remote: skipped (no FUSE)");
		return;
	}
	std::string server = fresh(work, "remote-server"), reader = fresh(work, "remote-reader");
	auto made = lwbench::generateStore(server, 100, lwbench::ChainShape::Own, 1);
	auto writer = StoreWriter::open(server, {.durable = false, .makeLinks = false});
	std::string base(64, 'a');
	(void)writer->addLayer({.id = base});
	std::vector<std::string> mounts;
	for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"}) {
		std::filesystem::create_directories(reader + "/" + tree);
		if (std::system(fmt::format("bindfs {}/{} {}/{}", server, tree, reader, tree).c_str()) != 0)
			throw std::runtime_error("bindfs failed");
		mounts.push_back(reader + "/" + tree);
	}
	report.markdown += "| interval | samples | p50 | p99 | CPU per idle tick |\n| --- | --- | --- | --- | --- |\n";
	std::vector<std::pair<unsigned, int>> plan = quick ? std::vector<std::pair<unsigned, int>>{{100, 20}, {1000, 5}}
							   : std::vector<std::pair<unsigned, int>>{{100, 50}, {1000, 20}, {5000, 8}};
	std::mt19937 rng(42);
	for (auto [interval, samples] : plan) {
		AddedLog log;
		auto watcher = Watcher::create({.root = reader, .intervalMs = interval}, log.sink());
		if (!watcher || !(*watcher)->start())
			throw std::runtime_error("remote watcher did not start");
		waitLoaded(**watcher);
		// Idle cost: the whole process's CPU over some ticks, with nothing changing.
		int ticks = static_cast<int>(std::max(3u, 2000 / interval));
		double c0 = processCpuMs();
		std::this_thread::sleep_for(std::chrono::milliseconds(interval) * ticks);
		double perTick = (processCpuMs() - c0) / ticks;
		// At a random phase of the rescan timer.
		auto latencies = detectionLatencies(*writer, base, interval, samples, "n", log, rng, 5s);
		(*watcher)->stop();
		(*watcher)->join();
		saveSamples(out + fmt::format("/latency_remote_{}ms.dat", interval), latencies);
		report.add(fmt::format("remote_{}ms_p50_ms", interval), median(latencies));
		report.add(fmt::format("remote_{}ms_p99_ms", interval), percentile(latencies, 0.99));
		report.add(fmt::format("remote_{}ms_idle_tick_cpu_ms", interval), perTick);
		report.markdown += fmt::format("| {} ms | {} | {:.0f} ms | {:.0f} ms | {:.2f} ms |\n", interval, samples,
					       median(latencies), percentile(latencies, 0.99), perTick);
		say(fmt::format("remote {} ms: p50 {:.0f} ms p99 {:.0f} ms, {:.2f} ms CPU per idle tick", interval,
				median(latencies), percentile(latencies, 0.99), perTick));
	}
	for (const auto &m : mounts)
		::umount2(m.c_str(), MNT_DETACH);
	report.markdown += fmt::format("\nThe store holds {} images and their layers; every change is expected\n"
				       "within one interval (plus a rescan's time).\n\n", made ? made->images + 0 : 0);
}

} // namespace

void runRemote(const Context &context)
{
	remoteDetection(context.work, context.out, context.quick, context.report);
}

} // namespace lw::bench

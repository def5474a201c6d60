// Section 1: detection latency on a local tree under inotify and fanotify, against the
// kernel and hand-off floors; then the price of fanotify's filesystem-wide mark.
#include "baselines.h"
#include "bench_common.h"
#include "sections.h"

#include <layerwatch/model.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace lw::bench {

namespace {

std::string stageImage(const std::string &root, const std::string &id, const std::string &top)
{
	std::string dir = root + "/overlay-images/" + id;
	::mkdir(dir.c_str(), 0755);
	ImageRecord r;
	r.id = id;
	r.layer = top;
	r.names = {"bench/" + id.substr(0, 8)};
	r.bigDataNames = {"sha256:" + id, "manifest"};
	writeText(dir + "/images.json", toJson(r));
	writeText(dir + "/" + bigDataFileName("sha256:" + id), "{}");
	Manifest m;
	m.configDigest = "sha256:" + id;
	writeText(dir + "/.manifest.tmp", toJson(m));
	return dir;
}

void localLatency(const std::string &work, const std::string &out, int count, Report &report)
{
	std::string root = fresh(work, "local");
	auto writer = StoreWriter::open(root, {.durable = false, .makeLinks = false});
	std::string base(64, 'a');
	if (!writer || !writer->addLayer({.id = base}))
		throw std::runtime_error("cannot make the local store");
	report.markdown += fmt::format(
		"## 1. Detection latency on a local tree\n\n"
		"{} images published one at a time; time from the manifest's rename into place to the\n"
		"`image_added` callback, the image's other files having been seen first (it is pending\n"
		"on its manifest, as during a real pull). The kernel floor: a bare inotify reader on\n"
		"the same tree, the same kind of rename, sampled between the images of each run.\n"
		"The hand-off floor: the same rename through the hand-offs DESIGN.md section 4\n"
		"requires (a libuv loop polling the inotify fd, a worker thread for the read, its\n"
		"result back through `uv_async_t`) with no work at either end, sampled alike.\n\n"
		"| backend | p50 | p99 | max | floor p50 | floor p99 | p50 / floor | p99 / floor | hand-off floor p50 | p50 / hand-off floor |\n"
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
		count);
	for (WatchMode mode : {WatchMode::Inotify, WatchMode::Fanotify}) {
		std::string name = watchModeName(mode);
		if (mode == WatchMode::Fanotify && !fanotifyHere(root)) {
			report.markdown += "| fanotify | not measured: fanotify cannot be had here (no CAP_SYS_ADMIN, or no file handles) | | | | | | |\n";
			continue;
		}
		auto s = latencySamples(root, base, mode, count, mode == WatchMode::Fanotify ? "f" : "c");
		// The plot's files: inotify keeps its old names.
		std::string suffix = mode == WatchMode::Inotify ? "" : "_" + name;
		saveSamples(out + "/latency_local" + suffix + ".dat", s.ours);
		saveSamples(out + "/latency_floor" + suffix + ".dat", s.floor);
		double p50 = median(s.ours), p99 = percentile(s.ours, 0.99), mx = percentile(s.ours, 1.0);
		double f50 = median(s.floor), f99 = percentile(s.floor, 0.99), h50 = median(s.handOff);
		std::string key = mode == WatchMode::Inotify ? "local" : "local_" + name;
		report.add(key + "_latency_p50_us", p50);
		report.add(key + "_latency_p99_us", p99);
		report.add(key + "_latency_max_us", mx);
		report.add(key + "_floor_p50_us", f50);
		report.add(key + "_floor_p99_us", f99);
		report.add(key + "_hand_off_floor_p50_us", h50);
		if (mode == WatchMode::Inotify) {
			report.add("kernel_floor_p50_us", f50);
			report.add("kernel_floor_p99_us", f99);
		}
		report.markdown += fmt::format("| {} | {:.1f} µs | {:.1f} µs | {:.1f} µs | {:.1f} µs | {:.1f} µs | {:.1f}× | {:.1f}× | {:.1f} µs | {:.1f}× |\n",
					       name, p50, p99, mx, f50, f99, p50 / f50, p99 / f99, h50, p50 / h50);
		report.target(fmt::format("local p99 under 2 ms ({})", name), fmt::format("{:.3f} ms", p99 / 1000), p99 < 2000);
		report.target(fmt::format("local p99 under 5× the kernel floor ({})", name), fmt::format("{:.1f}×", p99 / f99),
			      p99 / f99 < 5);
		report.target(fmt::format("local p50 within 4× the kernel floor ({})", name), fmt::format("{:.1f}×", p50 / f50),
			      p50 / f50 <= 4);
		say(fmt::format("local latency ({}): p50 {:.1f} us p99 {:.1f} us (floor {:.1f}/{:.1f}, hand-off floor {:.1f})", name,
				p50, p99, f50, f99, h50));
	}
	report.markdown += "\n";
}

// What fanotify's filesystem-wide mark costs: files written elsewhere on the store's
// filesystem, by another process, while a watcher follows the store. The watcher reads
// each of their events and drops it after one lookup; its process CPU over the events
// it read is the price of one.
void foreignEvents(const std::string &work, bool quick, Report &report)
{
	std::string root = fresh(work, "foreign-store"), elsewhere = fresh(work, "foreign-elsewhere");
	auto writer = StoreWriter::open(root, {.durable = false, .makeLinks = false});
	std::string base(64, 'a');
	if (!writer || !writer->addLayer({.id = base}) || !fanotifyHere(root))
		return;
	std::atomic<bool> ready{false};
	auto watcher = Watcher::create({.root = root, .mode = WatchMode::Fanotify, .commitLinks = false},
				       [&](const Event &e) { ready = ready || e.type == EventType::Ready; });
	if (!watcher || !(*watcher)->start())
		throw std::runtime_error("the fanotify watcher did not start");
	while (!ready)
		std::this_thread::sleep_for(1ms);
	int files = quick ? 20000 : 100000;
	auto before = (*watcher)->stats();
	double cpu = processCpuMs();
	pid_t pid = ::fork();
	if (pid == 0) {
		for (int i = 0; i < files; ++i) {
			std::string path = fmt::format("{}/f{}", elsewhere, i % 1000);
			int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd >= 0)
				::close(fd); // a create (the first time) and a close after a write
		}
		::_exit(0);
	}
	::waitpid(pid, nullptr, 0);
	// Until the queue is drained: every file's close heard (one event each at least),
	// then the count still for a moment. Not "until nothing moves": the mark hears the
	// whole filesystem, and a host that writes somewhere every 100 ms kept that loop
	// going for good (a full run hung here). At most a minute, and 2 s of settling.
	auto deadline = Clock::now() + 60s;
	auto heard = [&] { return (*watcher)->stats().kernelEvents - before.kernelEvents; };
	while (heard() < static_cast<std::uint64_t>(files) && Clock::now() < deadline)
		std::this_thread::sleep_for(10ms);
	auto settled = std::min(deadline, Clock::now() + 2s);
	for (std::uint64_t last = 0; heard() != last && Clock::now() < settled;) {
		last = heard();
		std::this_thread::sleep_for(100ms);
	}
	double cpuMs = processCpuMs() - cpu;
	auto after = (*watcher)->stats();
	(*watcher)->stop();
	(*watcher)->join();
	double events = static_cast<double>(after.kernelEvents - before.kernelEvents);
	double perEventUs = events > 0 ? cpuMs * 1000 / events : 0;
	report.add("fanotify_foreign_event_cpu_us", perEventUs);
	report.markdown += fmt::format(
		"### The filesystem-wide mark's price\n\n"
		"{} files opened for writing and closed by another process in a folder outside the store, on\n"
		"its filesystem: the fanotify watcher read {:.0f} events for them (and {} resyncs) and\n"
		"dropped each after one lookup, at {:.2f} µs of its CPU per event ({:.0f} ms in all).\n\n",
		files, events, after.resyncs - before.resyncs, perEventUs, cpuMs);
	say(fmt::format("foreign events: {:.0f} read, {:.2f} us CPU each", events, perEventUs));
}

} // namespace

LatencySamples latencySamples(const std::string &root, const std::string &base, WatchMode mode, int count,
			      const std::string &tag)
{
	std::mutex mutex;
	std::condition_variable cv;
	std::string lastAdded, lastPending;
	Clock::time_point addedAt;
	bool ready = false;
	auto watcher = Watcher::create({.root = root, .mode = mode, .commitLinks = false}, [&](const Event &e) {
		if (e.type == EventType::Ready) {
			std::lock_guard lock(mutex);
			ready = true;
			cv.notify_all();
		}
		if (e.type != EventType::ImageAdded && e.type != EventType::Pending)
			return;
		std::lock_guard lock(mutex);
		(e.type == EventType::ImageAdded ? lastAdded : lastPending) = e.id;
		addedAt = Clock::now();
		cv.notify_all();
	});
	if (!watcher)
		throw std::runtime_error(watcher.error().message);
	auto started = Clock::now();
	if (!(*watcher)->start())
		throw std::runtime_error("watcher did not start");
	{
		std::unique_lock lock(mutex);
		if (!cv.wait_for(lock, 300s, [&] { return ready; }))
			throw std::runtime_error("the initial load did not end");
	}
	LatencySamples samples;
	samples.loadMs = since(started);
	samples.loaded = (*watcher)->stats();
	KernelFloor floor(root + "/floor");
	HandOffFloor handOff(root + "/hand-off");
	for (int i = 0; i < count; ++i) {
		samples.floor.push_back(floor.sample());
		samples.handOff.push_back(handOff.sample());
		std::string id = fmt::format("{}{:0{}x}", tag, i, 64 - tag.size());
		std::string dir = stageImage(root, id, base);
		std::unique_lock lock(mutex);
		// As in a real pull, the files before the manifest were seen first (the
		// image is pending on its manifest); then the manifest lands.
		if (!cv.wait_for(lock, 5s, [&] { return lastPending == id; }))
			throw std::runtime_error(fmt::format("image {} was never pending", i));
		lock.unlock();
		std::this_thread::sleep_for(2ms); // let the rest of the staging's events drain
		lock.lock();
		auto start = Clock::now();
		::rename((dir + "/.manifest.tmp").c_str(), (dir + "/manifest").c_str());
		if (!cv.wait_for(lock, 5s, [&] { return lastAdded == id; }))
			throw std::runtime_error(fmt::format("image {} never arrived", i));
		samples.ours.push_back(std::chrono::duration<double, std::micro>(addedAt - start).count());
	}
	(*watcher)->stop();
	(*watcher)->join();
	return samples;
}

void runLocal(const Context &context)
{
	localLatency(context.work, context.out, context.quick ? 300 : 1000, context.report);
	foreignEvents(context.work, context.quick, context.report);
}

} // namespace lw::bench

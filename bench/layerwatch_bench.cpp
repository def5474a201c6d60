// layerwatch's benchmarks, each measured side by side with its baseline in one run
// (quote ratios and medians: these machines are shared and noisy).
//   1 local latency under inotify and fanotify, against a bare inotify reader
//   2 scale: initial load of 1k/10k/100k images against a plain crawl of the same tree,
//     and the memory it keeps;
//     kernel memory held for 10k (watches or marks); 100k images under fanotify (full)
//   3 idle rescan CPU of a 10 000-image store, against a seed-style pass
//   4 remote detection over bindfs at several intervals, and CPU per idle tick
//   5 storm: images written as fast as possible until the store matches a full scan
// usage: layerwatch_bench [--quick] --out DIR [--work DIR]
// Writes DIR/results.json, DIR/BENCHMARKS.md and DIR/*.dat (for the plot).
#include "store_generator.h"
#include "store_state.h"

#include "executor.h"
#include "inotify_source.h"
#include "reconciler.h"
#include "root.h"
#include "safe_fs.h"

#include <layerwatch/model.h>
#include <layerwatch/scan.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <uv.h>

#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

using namespace lw;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// start() returns at once: the initial load (the first rescan) is waited out here.
void waitLoaded(Watcher &watcher)
{
	for (auto until = Clock::now() + 120s; watcher.stats().rescans < 1 && Clock::now() < until;)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
}


// ---- small tools ----

double threadCpuMs()
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double processCpuMs()
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

double since(Clock::time_point t)
{
	return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p)
{
	if (v.empty())
		return 0;
	std::sort(v.begin(), v.end());
	return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

double median(const std::vector<double> &v)
{
	return percentile(v, 0.5);
}

void writeText(const std::string &path, const std::string &text)
{
	std::ofstream(path, std::ios::trunc) << text;
}

void saveSamples(const std::string &path, const std::vector<double> &v)
{
	std::string text;
	for (double x : v)
		text += fmt::format("{:.3f}\n", x);
	writeText(path, text);
}

std::string fresh(const std::string &work, const std::string &name)
{
	std::string path = work + "/" + name;
	std::filesystem::remove_all(path);
	std::filesystem::create_directories(path);
	return path;
}

// The report: JSON results and a Markdown page, filled as sections finish.
struct Report {
	std::vector<std::string> json;  // "key": value entries
	std::string markdown;
	std::vector<std::string> targets; // "| target | figure | met |" rows

	void add(const std::string &key, double value) { json.push_back(fmt::format("\"{}\": {:.4f}", key, value)); }
	void target(const std::string &what, const std::string &figure, bool met)
	{
		targets.push_back(fmt::format("| {} | {} | {} |", what, figure, met ? "met" : "**missed**"));
	}
};

void say(const std::string &text)
{
	std::printf("%s\n", text.c_str());
	std::fflush(stdout);
}

// ---- 1. local latency against the kernel floor ----

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

// A floor: one rename in dir, timed from just before it to the moment the floor's
// listener says it heard it (heard()). The listener is the subclass's own; both
// listen on fd_, an inotify fd.
class RenameFloor {
public:
	RenameFloor(std::string dir, int inotifyFlags, const char *name) : dir_(std::move(dir)), name_(name)
	{
		::mkdir(dir_.c_str(), 0755);
		fd_ = inotify_init1(IN_CLOEXEC | inotifyFlags);
	}
	RenameFloor(const RenameFloor &) = delete;
	RenameFloor &operator=(const RenameFloor &) = delete;
	~RenameFloor() { ::close(fd_); }

	double sample()
	{
		writeText(dir_ + "/.manifest.tmp", "{}");
		int wd = inotify_add_watch(fd_, dir_.c_str(), IN_MOVED_TO);
		std::unique_lock lock(mutex_);
		long before = events_;
		auto t0 = Clock::now();
		::rename((dir_ + "/.manifest.tmp").c_str(), (dir_ + "/manifest").c_str());
		if (!cv_.wait_for(lock, 5s, [&] { return events_ > before; }))
			throw std::runtime_error(fmt::format("the {} heard nothing", name_));
		double us = std::chrono::duration<double, std::micro>(at_ - t0).count();
		lock.unlock();
		inotify_rm_watch(fd_, wd);
		::unlink((dir_ + "/manifest").c_str());
		return us;
	}

protected:
	static bool movedIn(const char *buffer, ssize_t n)
	{
		bool moved = false;
		parseInotifyRecords(buffer, static_cast<std::size_t>(n),
				    [&](const InotifyRecord &r) { moved = moved || (r.mask & IN_MOVED_TO); });
		return moved;
	}
	// The rename was heard at `at` (any thread).
	void heard(Clock::time_point at)
	{
		std::lock_guard lock(mutex_);
		at_ = at;
		++events_;
		cv_.notify_all();
	}

	std::string dir_;
	int fd_ = -1;

private:
	const char *name_;
	std::mutex mutex_;
	std::condition_variable cv_;
	long events_ = 0;
	Clock::time_point at_;
};

// A bare inotify reader on a thread of its own, blocked in read(2) as the watcher's
// thread is blocked in epoll: the kernel's own wake-up for a rename, no work after it.
class KernelFloor : public RenameFloor {
public:
	explicit KernelFloor(std::string dir) : RenameFloor(std::move(dir), 0, "bare inotify reader")
	{
		reader_ = std::thread([this] { read(); });
	}
	~KernelFloor()
	{
		// close() does not wake a blocked read(2): one more event does.
		stop_ = true;
		inotify_add_watch(fd_, dir_.c_str(), IN_CLOSE_WRITE);
		writeText(dir_ + "/wake", "");
		reader_.join();
	}

private:
	void read()
	{
		alignas(struct inotify_event) char buf[4096];
		while (!stop_) {
			ssize_t n = ::read(fd_, buf, sizeof(buf));
			if (n <= 0)
				return;
			auto at = Clock::now();
			if (movedIn(buf, n))
				heard(at);
		}
	}
	std::thread reader_;
	std::atomic<bool> stop_{false};
};

// The same rename heard through the hand-offs DESIGN.md section 4 fixes, and nothing
// else: a libuv loop on a thread of its own polls an inotify fd (uv_poll_t), hands a
// job to a worker (the engine's Executor), and the worker's empty result comes back
// through uv_async_t to a callback on the loop. What any engine under those rules
// pays before it reads a file or judges an image.
class HandOffFloor : public RenameFloor {
public:
	explicit HandOffFloor(std::string dir) : RenameFloor(std::move(dir), IN_NONBLOCK, "hand-off floor")
	{
		uv_loop_init(&loop_);
		uv_poll_init(&loop_, &poll_, fd_);
		uv_async_init(&loop_, &done_, [](uv_async_t *h) { static_cast<HandOffFloor *>(h->data)->done(); });
		poll_.data = done_.data = this;
		uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t *h, int, int) { static_cast<HandOffFloor *>(h->data)->drain(); });
		loopThread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
	}
	~HandOffFloor()
	{
		executor_.shutdown();
		stopping_ = true;
		uv_async_send(&done_); // the loop sees stopping_ and closes its handles
		loopThread_.join();
		uv_loop_close(&loop_);
	}

private:
	// Loop thread: drain, hand the read to a worker, whose result comes back here.
	void drain()
	{
		alignas(struct inotify_event) char buf[4096];
		bool moved = false;
		for (ssize_t n; (n = ::read(fd_, buf, sizeof(buf))) > 0;)
			moved = movedIn(buf, n) || moved;
		if (!moved)
			return;
		(void)executor_.post([this]() -> Executor::Completion { return [this] { heard(Clock::now()); }; });
	}
	void done()
	{
		if (!stopping_) {
			executor_.runCompletions();
			return;
		}
		uv_close(reinterpret_cast<uv_handle_t *>(&poll_), nullptr);
		uv_close(reinterpret_cast<uv_handle_t *>(&done_), nullptr);
	}
	uv_loop_t loop_{};
	uv_poll_t poll_{};
	uv_async_t done_{};
	Executor executor_{1, [this] { uv_async_send(&done_); }};
	std::thread loopThread_;
	std::atomic<bool> stopping_{false};
};

struct LatencySamples {
	std::vector<double> ours, floor, handOff;
	double loadMs = 0;   // start() to the initial load adopted
	WatcherStats loaded; // stats then
};

// count images published one at a time into the store at root (whose base layer is
// base), each timed from its manifest's rename to image_added, with a floor sample
// taken before each (interleaved: both see the same machine).
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

// Whether this process may have fanotify on the filesystem holding path.
bool fanotifyHere(const std::string &path)
{
	return Watcher::create({.root = path, .mode = WatchMode::Fanotify}, nullptr).ok();
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
	// Until the queue is drained: the count stops moving.
	for (std::uint64_t last = 0; (*watcher)->stats().kernelEvents != last;) {
		last = (*watcher)->stats().kernelEvents;
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

// ---- 3. idle rescan against the seed's pass ----

// The seed's way, every 5 s: list the trees and parse every manifest, images.json and
// layer.json again.
std::size_t seedPass(int rootFd)
{
	std::size_t parsed = 0;
	for (auto [tree, file] : {std::pair{"overlay-images", "images.json"}, {"overlay-images", "manifest"},
				  {"overlay-layers/RO", "layer.json"}}) {
		auto dir = fs::openDir(rootFd, tree);
		if (!dir)
			continue;
		auto entries = fs::listDir(dir->get());
		for (const auto &e : *entries) {
			if (!isValidId(e.name))
				continue;
			auto item = fs::openDir(dir->get(), e.name);
			if (!item)
				continue;
			auto text = fs::readRegularFile(item->get(), file, kMaxJsonBytes);
			if (!text)
				continue;
			std::string_view f(file);
			parsed += f == "manifest" ? parseManifest(*text).ok()
				  : f == "layer.json" ? parseLayerJson(*text).ok() : parseImageJson(*text).ok();
		}
	}
	return parsed;
}

void idleRescan(const std::string &root, Report &report)
{
	auto rootFd = openRoot(root);
	Store store;
	Reconciler reader(rootFd->get(), store, {.commitLinks = false});
	(void)reader.initialLoad();
	std::vector<double> idle, seed;
	for (int round = 0; round < 5; ++round) {
		double a = threadCpuMs();
		if (!reader.rescan().empty())
			throw std::runtime_error("an idle rescan changed something");
		idle.push_back(threadCpuMs() - a);
		double b = threadCpuMs();
		(void)seedPass(rootFd->get());
		seed.push_back(threadCpuMs() - b);
	}
	auto snap = store.snapshot();
	double i50 = median(idle), s50 = median(seed);
	report.add("idle_rescan_cpu_ms", i50);
	report.add("seed_pass_cpu_ms", s50);

	// The same store as a remote tree whose writer bumps the generation file: an idle
	// tick is one stat. The whole process's CPU over many ticks, after the first.
	constexpr unsigned kTickMs = 20;
	auto watcher = Watcher::create({.root = root, .mode = WatchMode::Poll, .intervalMs = kTickMs,
					.trustGeneration = true, .fullRescanMs = 3600000, .commitLinks = false},
				       nullptr);
	if (!watcher || !(*watcher)->start())
		throw std::runtime_error("generation watcher did not start");
	// The initial load, then the first tick reads the generation file and rescans in
	// full: wait both out.
	for (auto until = Clock::now() + 30s; (*watcher)->stats().rescans < 2 && Clock::now() < until;)
		std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
	std::this_thread::sleep_for(std::chrono::milliseconds(2 * kTickMs));
	auto skips0 = (*watcher)->stats().generationSkips;
	double c0 = processCpuMs();
	std::this_thread::sleep_for(1s);
	double spent = processCpuMs() - c0;
	auto skips = (*watcher)->stats().generationSkips - skips0;
	(*watcher)->stop();
	(*watcher)->join();
	double perTick = skips ? spent / static_cast<double>(skips) : spent;
	report.add("idle_tick_trusted_generation_cpu_ms", perTick);
	report.markdown += fmt::format(
		"## 3. The seed's way: a 5 s pass against an idle rescan\n\n"
		"The same store of {} images and {} layers. The seed lists the three trees and parses\n"
		"every manifest, `images.json` and `layer.json` every 5 s, so it sees a new image\n"
		"2.5 s late on average. An idle layerwatch rescan lists and stats only.\n\n"
		"| CPU per pass (median of 5) | ms |\n| --- | --- |\n"
		"| seed-style pass | {:.1f} |\n| layerwatch idle rescan (list and stat everything) | {:.1f} |\n"
		"| layerwatch idle tick, trusted generation file ({} ticks) | {:.3f} |\n"
		"| seed / layerwatch full idle rescan | {:.1f}× |\n| seed / layerwatch idle tick | {:.0f}× |\n\n"
		"The generation file is opt-in (`trustGeneration`): only stores whose every writer bumps it\n"
		"(layerwatch's writer does, iSulad does not) may skip rescans on it; a full rescan still\n"
		"runs every `fullRescanMs` (60 s by default).\n\n",
		snap.imageCount(), snap.layerCount(), s50, i50, skips, perTick, s50 / i50, s50 / perTick);
	report.target("idle rescan of 10 000 images under 5 ms CPU: full rescan", fmt::format("{:.1f} ms", i50), i50 < 5);
	report.target("idle rescan of 10 000 images under 5 ms CPU: trusted generation file",
		      fmt::format("{:.3f} ms", perTick), perTick < 5);
	report.target("idle rescan ≥ 50× cheaper than the seed's pass: full rescan", fmt::format("{:.1f}×", s50 / i50), s50 / i50 >= 50);
	report.target("idle rescan ≥ 50× cheaper than the seed's pass: trusted generation file",
		      fmt::format("{:.0f}×", s50 / perTick), s50 / perTick >= 50);
	say(fmt::format("idle rescan {:.1f} ms CPU (trusted generation: {:.3f} ms per tick), seed pass {:.1f} ms", i50,
			perTick, s50));
}

// What a watcher told: whether it is ready, and when each image was added; waited on
// from the bench's own thread.
struct AddedLog {
	std::mutex mutex;
	std::condition_variable cv;
	std::map<std::string, Clock::time_point> added;
	bool ready = false;

	Watcher::EventCallback sink()
	{
		return [this](const Event &e) {
			std::lock_guard lock(mutex);
			if (e.type == EventType::Ready)
				ready = true;
			if (e.type == EventType::ImageAdded)
				added[e.id] = Clock::now();
			cv.notify_all();
		};
	}
	bool waitReady(std::chrono::milliseconds timeout)
	{
		std::unique_lock lock(mutex);
		return cv.wait_for(lock, timeout, [&] { return ready; });
	}
};

// Images published by writer on top, each at a random phase of the tick; the time from
// each publish to its image_added, in ms. tag keeps the configs (and ids) apart.
std::vector<double> detectionLatencies(StoreWriter &writer, const std::string &top, unsigned interval, int samples,
				       const std::string &tag, AddedLog &log, std::mt19937 &rng,
				       std::chrono::milliseconds slack)
{
	std::vector<double> latencies;
	for (int i = 0; i < samples; ++i) {
		std::this_thread::sleep_for(std::chrono::milliseconds(rng() % interval));
		auto start = Clock::now();
		auto id = writer.publishImage({.topLayer = top, .config = fmt::format("{{\"{}\":\"{}-{}\"}}", tag, interval, i)});
		std::unique_lock lock(log.mutex);
		if (!id || !log.cv.wait_for(lock, std::chrono::milliseconds(interval) + slack, [&] { return log.added.count(*id); }))
			throw std::runtime_error(fmt::format("{}: a published image never arrived", tag));
		latencies.push_back(std::chrono::duration<double, std::milli>(log.added[*id] - start).count());
	}
	return latencies;
}

// ---- 4. remote detection over bindfs ----

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

// ---- 2. scale ----

struct LoadFigures {
	double wallMs = 0, cpuMs = 0, watches = 0, crawlWallMs = 0, crawlCpuMs = 0;
	// Resident memory in KiB: with a watcher ready on an empty store (the process's
	// own cost), with one ready on the store (settled), and at the load's peak.
	double emptyKiB = 0, settledKiB = 0, peakKiB = 0;
	// Of them, the process's private memory (RssAnon): not the shared libraries' pages
	// that the load alone runs through, which the kernel maps 64 KiB at a time.
	double emptyAnonKiB = 0, settledAnonKiB = 0;
};

// A line of /proc/self/status in KiB ("VmRSS", "VmHWM"), 0 if missing.
long statusKiB(const std::string &field)
{
	std::ifstream in("/proc/self/status");
	std::string line;
	while (std::getline(in, line))
		if (line.compare(0, field.size() + 1, field + ":") == 0)
			return std::stol(line.substr(field.size() + 1));
	return 0;
}

// What the validator needs, stats only: every tree listed, every entry stat'ed.
std::size_t crawl(const std::string &root)
{
	std::size_t n = 0;
	struct statx sx;
	for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"}) {
		for (const auto &item : std::filesystem::directory_iterator(root + "/" + tree)) {
			// What the validator looks at: folders named by an id.
			if (!isValidId(item.path().filename().string()) || !item.is_directory())
				continue;
			statx(AT_FDCWD, item.path().c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
			++n;
			for (const auto &file : std::filesystem::directory_iterator(item.path())) {
				statx(AT_FDCWD, file.path().c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
				++n;
			}
		}
	}
	return n;
}

// Attaches a watcher on root to loop and runs the loop until it is ready.
std::unique_ptr<Watcher> loadOn(uv_loop_t &loop, const std::string &root)
{
	bool ready = false;
	auto watcher = Watcher::create({.root = root, .commitLinks = false}, [&ready](const Event &e) {
		ready = ready || e.type == EventType::Ready;
	});
	if (!watcher)
		throw std::runtime_error(watcher.error().message);
	// attach() returns at once: the load is read on workers and adopted on the loop.
	if (auto attached = (*watcher)->attach(&loop); !attached)
		throw std::runtime_error(attached.error().message);
	while (!ready)
		uv_run(&loop, UV_RUN_ONCE);
	// Then the reads the load sets off (the look that comes with each new watch):
	// settled is what the watcher holds once it is quiet. Turns of the loop with no read
	// running, five in a row, within ten seconds.
	auto deadline = Clock::now() + std::chrono::seconds(10);
	for (int quiet = 0; quiet < 5 && Clock::now() < deadline;) {
		uv_run(&loop, UV_RUN_NOWAIT);
		std::this_thread::sleep_for(std::chrono::milliseconds(2));
		quiet = (*watcher)->stats().readsInFlight ? 0 : quiet + 1;
	}
	return std::move(*watcher);
}

// In a child of its own, so that its memory is its own.
LoadFigures measureLoad(const std::string &root, const std::string &emptyRoot)
{
	int fds[2];
	if (::pipe(fds) != 0)
		throw std::runtime_error("pipe");
	pid_t pid = ::fork();
	if (pid == 0) {
		::close(fds[0]);
		LoadFigures f;
		auto c = Clock::now();
		double cc = processCpuMs();
		(void)crawl(root);
		f.crawlWallMs = since(c);
		f.crawlCpuMs = processCpuMs() - cc;
		uv_loop_t loop;
		uv_loop_init(&loop);
		// What a watcher costs with no store (threads and their arenas, the loop's
		// handles, the library's tables): not the store's. It is then let go, so that
		// the second one reuses the threads' arenas as it would have made them.
		auto empty = loadOn(loop, emptyRoot);
		f.emptyKiB = static_cast<double>(statusKiB("VmRSS"));
		f.emptyAnonKiB = static_cast<double>(statusKiB("RssAnon"));
		empty.reset();
		uv_run(&loop, UV_RUN_DEFAULT); // its handles close
		// The peak from here on (clear_refs 5 resets VmHWM to VmRSS).
		std::ofstream("/proc/self/clear_refs") << "5";
		auto start = Clock::now();
		double cpu = processCpuMs();
		auto watcher = loadOn(loop, root);
		f.wallMs = since(start);
		f.cpuMs = processCpuMs() - cpu;
		f.watches = static_cast<double>(watcher->stats().watches);
		f.settledKiB = static_cast<double>(statusKiB("VmRSS"));
		f.settledAnonKiB = static_cast<double>(statusKiB("RssAnon"));
		f.peakKiB = static_cast<double>(statusKiB("VmHWM"));
		(void)!::write(fds[1], &f, sizeof(f));
		::_exit(0);
	}
	::close(fds[1]);
	LoadFigures f;
	ssize_t n = ::read(fds[0], &f, sizeof(f));
	::close(fds[0]);
	::waitpid(pid, nullptr, 0);
	if (n != sizeof(f))
		throw std::runtime_error("the load child failed");
	return f;
}

void scale(const std::string &work, bool quick, Report &report, std::string &tenKStore)
{
	report.markdown += "## 2. Scale: the initial load and the memory it keeps\n\n"
			   "Images with 3 layers each, chains shared as registries share them (20 base\n"
			   "layers, 200 middle ones, a top layer per image). The floor: a plain crawl of the\n"
			   "same tree (list and stat every entry the validator needs), in the same process.\n"
			   "Memory is resident memory: *settled* once `ready` is told and the reads it sets\n"
			   "off (the look that comes with each new watch) are done, less what a watcher\n"
			   "ready on an empty store holds, per image or layer; *peak* is the load's\n"
			   "highest, on the same footing, against the settled figure. *Private*: the\n"
			   "same without the shared libraries' pages (RssAnon), which the load alone runs\n"
			   "through and the kernel maps 64 KiB at a time (fault-around): a cost per\n"
			   "process, shared with every other one, not per item.\n\n"
			   "| images | layers | wall | CPU | crawl (floor) | load / crawl | settled | bytes per item | private bytes per item | peak / settled | watches |\n"
			   "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
	std::vector<unsigned long> sizes = quick ? std::vector<unsigned long>{1000, 10000}
						 : std::vector<unsigned long>{1000, 10000, 100000};
	std::string emptyRoot = fresh(work, "scale-empty");
	for (auto tree : {"overlay/RO", "overlay/l", "overlay-layers/RO", "overlay-images"})
		std::filesystem::create_directories(emptyRoot + "/" + tree);
	for (unsigned long images : sizes) {
		std::string root = fresh(work, fmt::format("scale-{}", images));
		auto g0 = Clock::now();
		auto made = lwbench::generateStore(root, images, lwbench::ChainShape::Shared);
		if (!made)
			throw std::runtime_error(made.error().message);
		say(fmt::format("scale: generated {} images, {} layers in {:.1f} s", made->images, made->layers, since(g0) / 1000));
		auto f = measureLoad(root, emptyRoot);
		double items = static_cast<double>(made->images + made->layers);
		double settled = f.settledKiB - f.emptyKiB, peak = f.peakKiB - f.emptyKiB;
		double perItem = settled * 1024 / items, peakRatio = peak / settled;
		double privatePerItem = (f.settledAnonKiB - f.emptyAnonKiB) * 1024 / items;
		report.markdown += fmt::format("| {} | {} | {:.0f} ms | {:.0f} ms | {:.0f} ms | {:.1f}× | {:.1f} MiB | {:.0f} B | {:.0f} B | {:.2f}× | {:.0f} |\n",
					       made->images, made->layers, f.wallMs, f.cpuMs, f.crawlWallMs,
					       f.wallMs / f.crawlWallMs, settled / 1024, perItem, privatePerItem, peakRatio,
					       f.watches);
		report.add(fmt::format("load_{}_wall_ms", images), f.wallMs);
		report.add(fmt::format("load_{}_cpu_ms", images), f.cpuMs);
		report.add(fmt::format("load_{}_crawl_ms", images), f.crawlWallMs);
		report.add(fmt::format("load_{}_bytes_per_item", images), perItem);
		report.add(fmt::format("load_{}_private_bytes_per_item", images), privatePerItem);
		report.add(fmt::format("load_{}_peak_over_settled", images), peakRatio);
		say(fmt::format("scale {}: load {:.0f} ms wall, crawl {:.0f} ms, {:.0f} B/item ({:.0f} private), peak {:.2f}x settled",
				images, f.wallMs, f.crawlWallMs, perItem, privatePerItem, peakRatio));
		std::string size = fmt::format("{} images", images);
		report.target(fmt::format("{}: at most 1 KiB per image or layer", size), fmt::format("{:.0f} B", perItem),
			      perItem <= 1024);
		report.target(fmt::format("{}: peak memory at most 2× the settled", size), fmt::format("{:.2f}×", peakRatio),
			      peakRatio <= 2);
		if (images == 10000)
			report.target("initial load of 10 000 images under 1 s", fmt::format("{:.2f} s", f.wallMs / 1000), f.wallMs < 1000);
		if (images >= 10000)
			report.target(fmt::format("{}: initial load within 3× the plain crawl", size),
				      fmt::format("{:.1f}×", f.wallMs / f.crawlWallMs), f.wallMs / f.crawlWallMs <= 3);
	}
	report.markdown += "\n";
	tenKStore = work + "/scale-10000";
}

// ---- 2b. what the kernel holds for a 10 000-image store: watches or marks ----

// A slab cache's object size, from /proc/slabinfo (0 when it is not listed).
double slabObjectSize(const std::string &cache)
{
	std::ifstream in("/proc/slabinfo");
	std::string line;
	while (std::getline(in, line)) {
		std::istringstream fields(line);
		std::string name;
		double active = 0, total = 0, size = 0;
		if (fields >> name >> active >> total >> size && name == cache)
			return size;
	}
	return 0;
}

struct Held {
	double watches = 0, marks = 0;
};

// What a watcher with that mode holds once loaded on root, in a child of its own.
Held heldBy(const std::string &root, WatchMode mode)
{
	int fds[2];
	if (::pipe(fds) != 0)
		throw std::runtime_error("pipe");
	pid_t pid = ::fork();
	if (pid == 0) {
		std::atomic<bool> ready{false};
		auto created = Watcher::create({.root = root, .mode = mode, .commitLinks = false},
					       [&ready](const Event &e) { ready = ready || e.type == EventType::Ready; });
		if (!created || !(*created)->start())
			::_exit(1);
		// Ready: the load adopted and its watches placed (a rescan counted is not yet).
		for (auto until = Clock::now() + 120s; !ready && Clock::now() < until;)
			std::this_thread::sleep_for(1ms);
		auto stats = (*created)->stats();
		Held h{static_cast<double>(stats.watches), static_cast<double>(stats.marks)};
		(void)!::write(fds[1], &h, sizeof h);
		::_exit(0);
	}
	::close(fds[1]);
	Held h;
	bool told = ::read(fds[0], &h, sizeof h) == sizeof h;
	::close(fds[0]);
	::waitpid(pid, nullptr, 0);
	if (!told)
		throw std::runtime_error("the watcher child failed");
	return h;
}

void kernelMemory(const std::string &tenKStore, Report &report)
{
	// What each inotify watch keeps in memory besides its mark: its folder's inode and
	// dentry, which memory pressure can no longer reclaim while the watch lives. (Totals
	// of the slab before and after move by megabytes with the rest of the machine; the
	// objects' counts and sizes do not.)
	double inode = slabObjectSize("ext4_inode_cache"), dentry = slabObjectSize("dentry");
	report.markdown += fmt::format(
		"## 2b. Kernel memory held for 10 000 images\n\n"
		"What the kernel holds for a watcher loaded on the 10 000-image store. Each inotify watch\n"
		"is a mark and pins its folder's inode and dentry, which memory pressure cannot reclaim\n"
		"while it lives ({:.0f} + {:.0f} bytes here, from /proc/slabinfo); a fanotify mark is one\n"
		"per filesystem and pins nothing per folder (the folders it follows are file handles in\n"
		"the process's own memory).\n\n"
		"| backend | watches | marks | inodes and dentries pinned |\n| --- | --- | --- | --- |\n",
		inode, dentry);
	for (WatchMode mode : {WatchMode::Inotify, WatchMode::Fanotify}) {
		std::string name = watchModeName(mode);
		if (mode == WatchMode::Fanotify && !fanotifyHere(tenKStore)) {
			report.markdown += "| fanotify | not measured: cannot be had here | | |\n";
			continue;
		}
		Held h = heldBy(tenKStore, mode);
		double pinnedKiB = h.watches * (inode + dentry) / 1024;
		report.add("kernel_pinned_" + name + "_kib", pinnedKiB);
		report.markdown += fmt::format("| {} | {:.0f} | {:.0f} | {:.0f} KiB |\n", name, h.watches, h.marks, pinnedKiB);
		say(fmt::format("kernel memory ({}): {:.0f} watches, {:.0f} marks, {:.0f} KiB pinned", name, h.watches,
				h.marks, pinnedKiB));
	}
	report.markdown += "\n";
}

// ---- 2c. 100 000 images under fanotify ----

void hundredThousand(const std::string &work, Report &report)
{
	// Section 2's store when it made one (a full run), else one of our own.
	std::string root = work + "/scale-100000";
	lwbench::GeneratedStore made{100000, 0};
	if (!std::filesystem::exists(root + "/overlay-images")) {
		root = fresh(work, "scale-100000");
		auto g0 = Clock::now();
		auto generated = lwbench::generateStore(root, 100000, lwbench::ChainShape::Shared);
		if (!generated)
			throw std::runtime_error(generated.error().message);
		made = *generated;
		say(fmt::format("100k: generated {} images, {} layers in {:.1f} s", made.images, made.layers, since(g0) / 1000));
	} else {
		for (const auto &entry : std::filesystem::directory_iterator(root + "/overlay-layers/RO"))
			made.layers += isValidId(entry.path().filename().string());
	}
	WatchMode mode = fanotifyHere(root) ? WatchMode::Fanotify : WatchMode::Inotify;
	// A base layer of the generated store: every new image stands on it.
	std::ifstream in(root + "/overlay-images/" + lwbench::generatedImageId(0) + "/images.json");
	std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	auto first = parseImageJson(text);
	if (!first)
		throw std::runtime_error("the generated store's first image does not parse");
	std::string top = first->layer;
	long limit = 0;
	std::ifstream("/proc/sys/fs/inotify/max_user_watches") >> limit;
	auto s = latencySamples(root, top, mode, 200, "e");
	double p50 = median(s.ours), p99 = percentile(s.ours, 0.99), f50 = median(s.floor);
	report.add("hundredk_load_ms", s.loadMs);
	report.add("hundredk_latency_p50_us", p50);
	report.add("hundredk_latency_p99_us", p99);
	report.markdown += fmt::format(
		"## 2c. 100 000 images\n\n"
		"A registry-shaped store of {} images and {} layers, followed by {} (`auto` picks it as\n"
		"root); `fs.inotify.max_user_watches` left at its default here, {}, where inotify would\n"
		"need a watch per image folder ({} and more). Then 200 images published one at a\n"
		"time, as in section 1.\n\n"
		"| initial load | watches | marks | new image p50 | p99 | kernel floor p50 |\n"
		"| --- | --- | --- | --- | --- | --- |\n"
		"| {:.1f} s | {} | {} | {:.1f} µs | {:.1f} µs | {:.1f} µs |\n\n",
		made.images, made.layers, watchModeName(mode), limit, made.images + 3, s.loadMs / 1000, s.loaded.watches,
		s.loaded.marks, p50, p99, f50);
	report.target("100 000 images: a new image found in under 1 ms (p50)", fmt::format("{:.0f} µs", p50), p50 < 1000);
	say(fmt::format("100k ({}): load {:.1f} s, {} watches, {} marks, new image p50 {:.1f} us p99 {:.1f} us",
			watchModeName(mode), s.loadMs / 1000, s.loaded.watches, s.loaded.marks, p50, p99));
	std::filesystem::remove_all(root);
}

// ---- 5. storm ----

void storm(const std::string &work, bool quick, Report &report)
{
	unsigned long count = quick ? 2000 : 10000;
	std::string root = fresh(work, "storm");
	auto writer = StoreWriter::open(root, {.durable = false, .makeLinks = false});
	std::string base(64, 'a');
	(void)writer->addLayer({.id = base});
	std::atomic<unsigned long> added{0};
	auto watcher = Watcher::create({.root = root, .commitLinks = false}, [&](const Event &e) {
		if (e.type == EventType::ImageAdded)
			++added;
	});
	if (!watcher || !(*watcher)->start())
		throw std::runtime_error("storm watcher did not start");
	waitLoaded(**watcher);
	auto start = Clock::now();
	std::set<std::string> published;
	for (unsigned long i = 0; i < count; ++i)
		published.insert(*writer->publishImage({.topLayer = base, .config = fmt::format("{{\"storm\":{}}}", i)}));
	double writeMs = since(start);
	while (added < count && since(start) < 120000)
		std::this_thread::sleep_for(1ms);
	double doneMs = since(start);
	auto stats = (*watcher)->stats();
	auto snap = (*watcher)->snapshot();
	(*watcher)->stop();
	(*watcher)->join();
	auto scan = scanStore(root);
	std::set<std::string> scanned, inStore;
	for (const auto &i : scan->images)
		scanned.insert(i.image->id);
	for (const auto &i : snap.images())
		inStore.insert(i->id);
	bool matches = scanned == inStore && scanned == published;
	report.add("storm_images", static_cast<double>(count));
	report.add("storm_until_match_ms", doneMs);
	report.add("storm_resyncs", static_cast<double>(stats.resyncs));
	report.markdown += fmt::format(
		"## 5. Storm\n\n{} images written as fast as the writer can ({:.0f} ms of writing). The store\n"
		"held all of them {:.0f} ms after the first write; it {} a full scan of the same tree.\n"
		"Resyncs: {}; kernel events: {} in {} batches; rescans: {}.\n\n",
		count, writeMs, doneMs, matches ? "matches" : "does **not** match", stats.resyncs, stats.kernelEvents,
		stats.batches, stats.rescans);
	if (!matches)
		throw std::runtime_error("the storm's store does not match a full scan");
	say(fmt::format("storm: {} images, matched after {:.0f} ms, {} resyncs", count, doneMs, stats.resyncs));
}

// ---- 6. remote over a simulated network ----

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
			only = argv[++i]; // one section: local, scale, hundredk, remote, storm, netsim
		else {
			std::fprintf(stderr, "usage: layerwatch_bench [--quick] [--only SECTION] --out DIR [--work DIR]\n");
			return 2;
		}
	}
	auto wanted = [&](const char *section) { return only.empty() || only == section; };
	if (out.empty()) {
		std::fprintf(stderr, "usage: layerwatch_bench [--quick] --out DIR [--work DIR]\n");
		return 2;
	}
	bool ownWork = work.empty();
	if (ownWork) {
		work = std::filesystem::temp_directory_path() / "layerwatch-bench-XXXXXX";
		if (!::mkdtemp(work.data()))
			return 1;
	}
	std::filesystem::create_directories(out);
	Report report;
	int status = 0;
	try {
		auto started = Clock::now();
		if (wanted("local")) {
			localLatency(work, out, quick ? 300 : 1000, report);
			foreignEvents(work, quick, report);
		}
		if (wanted("scale")) {
			std::string tenK;
			scale(work, quick, report, tenK);
			kernelMemory(tenK, report);
			idleRescan(tenK, report);
		}
		if ((wanted("hundredk") && !quick) || only == "hundredk")
			hundredThousand(work, report);
		if (wanted("remote"))
			remoteDetection(work, out, quick, report);
		if (wanted("storm"))
			storm(work, quick, report);
		if (wanted("netsim"))
			simulatedNetwork(work, quick, report);
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

// Quick engine figures, measured side by side in one run:
//   latency   manifest rename -> image_added callback on a local tree, against a bare
//             inotify reader on the same folder (the kernel's floor)
//   rescan    CPU of one idle rescan of a generated store, against a seed-style pass
//             that parses every images.json, manifest and layer.json
// usage: engine_bench latency DIR [COUNT] | engine_bench rescan STORE
#include "reconciler.h"
#include "root.h"
#include "safe_fs.h"

#include <layerwatch/model.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <vector>

using namespace lw;
using Clock = std::chrono::steady_clock;

namespace {

double threadCpuMs()
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double percentile(std::vector<double> v, double p)
{
	std::sort(v.begin(), v.end());
	return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void writeText(const std::string &path, const std::string &text)
{
	std::ofstream(path, std::ios::trunc) << text;
}

// images.json and config in place, the manifest ready under a temporary name: the
// rename is the commit, and its time is the start of the measurement.
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

int latency(const std::string &root, int count)
{
	auto writer = StoreWriter::open(root, {.durable = false, .makeLinks = false});
	std::string base(64, 'a');
	if (!writer || !writer->addLayer({.id = base})) {
		std::fprintf(stderr, "engine_bench: cannot make the store at %s\n", root.c_str());
		return 1;
	}
	std::mutex mutex;
	std::condition_variable cv;
	std::string lastAdded;
	Clock::time_point addedAt;
	auto watcher = Watcher::create({.root = root}, [&](const Event &e) {
		if (e.type != EventType::ImageAdded)
			return;
		std::lock_guard lock(mutex);
		lastAdded = e.id;
		addedAt = Clock::now();
		cv.notify_all();
	});
	if (!watcher || !(*watcher)->start()) {
		std::fprintf(stderr, "engine_bench: watcher did not start\n");
		return 1;
	}
	int floorFd = inotify_init1(IN_CLOEXEC);
	std::vector<double> ours, floor;
	for (int i = 0; i < count; ++i) {
		// The floor: a bare inotify reader, the same kind of rename.
		std::string fid = fmt::format("f{:063x}", i);
		std::string fdir = root + "/floor-" + fid;
		::mkdir(fdir.c_str(), 0755);
		writeText(fdir + "/.manifest.tmp", "{}");
		int wd = inotify_add_watch(floorFd, fdir.c_str(), IN_MOVED_TO);
		auto t0 = Clock::now();
		::rename((fdir + "/.manifest.tmp").c_str(), (fdir + "/manifest").c_str());
		alignas(struct inotify_event) char buf[4096];
		(void)::read(floorFd, buf, sizeof(buf));
		floor.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
		inotify_rm_watch(floorFd, wd);

		std::string id = fmt::format("c{:063x}", i);
		std::string dir = stageImage(root, id, base);
		std::unique_lock lock(mutex);
		auto start = Clock::now();
		::rename((dir + "/.manifest.tmp").c_str(), (dir + "/manifest").c_str());
		if (!cv.wait_for(lock, std::chrono::seconds(5), [&] { return lastAdded == id; })) {
			std::fprintf(stderr, "engine_bench: image %d never arrived\n", i);
			return 1;
		}
		ours.push_back(std::chrono::duration<double, std::micro>(addedAt - start).count());
	}
	::close(floorFd);
	(*watcher)->stop();
	(*watcher)->join();
	double p50 = percentile(ours, 0.5), p99 = percentile(ours, 0.99), f50 = percentile(floor, 0.5), f99 = percentile(floor, 0.99);
	std::printf("local latency over %d images (us): layerwatch p50 %.1f p99 %.1f max %.1f | "
		    "kernel floor p50 %.1f p99 %.1f | ratio p50 %.1fx p99 %.1fx\n",
		    count, p50, p99, percentile(ours, 1.0), f50, f99, p50 / f50, p99 / f99);
	return 0;
}

// What the seed does every 5 s: list the trees and parse every file again.
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
			bool ok = f == "manifest" ? parseManifest(*text).ok()
					: f == "layer.json" ? parseLayerJson(*text).ok() : parseImageJson(*text).ok();
			parsed += ok;
		}
	}
	return parsed;
}

int rescan(const std::string &root)
{
	auto rootFd = openRoot(root);
	if (!rootFd) {
		std::fprintf(stderr, "engine_bench: %s\n", rootFd.error().message.c_str());
		return 1;
	}
	Store store;
	Reconciler reader(rootFd->get(), store, {.commitLinks = false});
	double c0 = threadCpuMs();
	auto w0 = Clock::now();
	(void)reader.initialLoad();
	double loadCpu = threadCpuMs() - c0;
	double loadWall = std::chrono::duration<double, std::milli>(Clock::now() - w0).count();
	std::vector<double> idle, seed;
	for (int round = 0; round < 5; ++round) {
		double a = threadCpuMs();
		auto events = reader.rescan();
		idle.push_back(threadCpuMs() - a);
		if (!events.empty())
			std::fprintf(stderr, "engine_bench: an idle rescan changed something\n");
		double b = threadCpuMs();
		(void)seedPass(rootFd->get());
		seed.push_back(threadCpuMs() - b);
	}
	auto snap = store.snapshot();
	double i50 = percentile(idle, 0.5), s50 = percentile(seed, 0.5);
	std::printf("store %zu images, %zu layers: initial load %.0f ms wall, %.0f ms CPU | idle rescan CPU median %.1f ms | "
		    "seed-style pass CPU median %.1f ms | seed/idle %.1fx\n",
		    snap.imageCount(), snap.layerCount(), loadWall, loadCpu, i50, s50, s50 / i50);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	std::string mode = argc > 1 ? argv[1] : "";
	if (mode == "latency" && argc >= 3)
		return latency(argv[2], argc > 3 ? std::atoi(argv[3]) : 1000);
	if (mode == "rescan" && argc == 3)
		return rescan(argv[2]);
	std::fprintf(stderr, "usage: engine_bench latency DIR [COUNT] | engine_bench rescan STORE\n");
	return 2;
}

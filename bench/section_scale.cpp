// Section 2: the initial load of 1k/10k/100k images against a plain crawl of the same
// tree, and the memory it keeps; its run goes on to 2b and 3 on the 10 000-image store.
#include "baselines.h"
#include "bench_common.h"
#include "sections.h"
#include "store_generator.h"

#include <layerwatch/watcher.h>

#include <fmt/format.h>

#include <uv.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace lw::bench {

namespace {

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

} // namespace

void runScale(const Context &context)
{
	std::string tenK;
	scale(context.work, context.quick, context.report, tenK);
	kernelMemory(tenK, context.report);
	idleRescan(tenK, context.report);
}

} // namespace lw::bench

// Section 2b: what the kernel holds for a 10 000-image store, watches or marks (run by
// section 2, on its store).
#include "bench_common.h"
#include "sections.h"

#include <layerwatch/watcher.h>

#include <fmt/format.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace lw::bench {

namespace {

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

} // namespace

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

} // namespace lw::bench

// The baselines (baselines.h): the rename floors, the seed's pass, the plain crawl.
#include "baselines.h"

#include "inotify_source.h"
#include "safe_fs.h"

#include <layerwatch/model.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <utility>

using namespace std::chrono_literals;

namespace lw::bench {

// ---- the rename floors (section 1) ----

RenameFloor::RenameFloor(std::string dir, int inotifyFlags, const char *name) : dir_(std::move(dir)), name_(name)
{
	::mkdir(dir_.c_str(), 0755);
	fd_ = inotify_init1(IN_CLOEXEC | inotifyFlags);
}

RenameFloor::~RenameFloor()
{
	::close(fd_);
}

double RenameFloor::sample()
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

bool RenameFloor::movedIn(const char *buffer, ssize_t n)
{
	bool moved = false;
	parseInotifyRecords(buffer, static_cast<std::size_t>(n),
			    [&](const InotifyRecord &r) { moved = moved || (r.mask & IN_MOVED_TO); });
	return moved;
}

void RenameFloor::heard(Clock::time_point at)
{
	std::lock_guard lock(mutex_);
	at_ = at;
	++events_;
	cv_.notify_all();
}

KernelFloor::KernelFloor(std::string dir) : RenameFloor(std::move(dir), 0, "bare inotify reader")
{
	reader_ = std::thread([this] { read(); });
}

KernelFloor::~KernelFloor()
{
	// close() does not wake a blocked read(2): one more event does.
	stop_ = true;
	inotify_add_watch(fd_, dir_.c_str(), IN_CLOSE_WRITE);
	writeText(dir_ + "/wake", "");
	reader_.join();
}

void KernelFloor::read()
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

HandOffFloor::HandOffFloor(std::string dir) : RenameFloor(std::move(dir), IN_NONBLOCK, "hand-off floor")
{
	uv_loop_init(&loop_);
	uv_poll_init(&loop_, &poll_, fd_);
	uv_async_init(&loop_, &done_, [](uv_async_t *h) { static_cast<HandOffFloor *>(h->data)->done(); });
	poll_.data = done_.data = this;
	uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t *h, int, int) { static_cast<HandOffFloor *>(h->data)->drain(); });
	loopThread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

HandOffFloor::~HandOffFloor()
{
	executor_.shutdown();
	stopping_ = true;
	uv_async_send(&done_); // the loop sees stopping_ and closes its handles
	loopThread_.join();
	uv_loop_close(&loop_);
}

void HandOffFloor::drain()
{
	alignas(struct inotify_event) char buf[4096];
	bool moved = false;
	for (ssize_t n; (n = ::read(fd_, buf, sizeof(buf))) > 0;)
		moved = movedIn(buf, n) || moved;
	if (!moved)
		return;
	(void)executor_.post([this]() -> Executor::Completion { return [this] { heard(Clock::now()); }; });
}

void HandOffFloor::done()
{
	if (!stopping_) {
		executor_.runCompletions();
		return;
	}
	uv_close(reinterpret_cast<uv_handle_t *>(&poll_), nullptr);
	uv_close(reinterpret_cast<uv_handle_t *>(&done_), nullptr);
}

// ---- the seed's pass (sections 3 and 6) ----

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

// ---- the plain crawl (section 2) ----

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

// ---- the floor of a network load (section 6) ----

namespace {

void lookAt(int dirFd, const char *name)
{
	struct statx sx;
	(void)::statx(dirFd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx);
}

void readWhole(int dirFd, const char *name)
{
	int fd = ::openat(dirFd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	char buffer[65536];
	while (::read(fd, buffer, sizeof buffer) > 0) {
	}
	::close(fd);
}

} // namespace

double linkFloorMs(const std::string &dir, std::size_t layers)
{
	std::vector<int> folders;
	for (auto name : {"overlay", "overlay-layers", "l"}) {
		std::filesystem::create_directories(dir + "/" + name);
		folders.push_back(::open((dir + "/" + name).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	}
	auto t0 = Clock::now();
	auto make = [](int folder, const std::string &name, const std::string &target) {
		struct stat st;
		if (::fstatat(folder, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
			return;
		std::string tmp = ".tmp-" + name;
		if (::symlinkat(target.c_str(), folder, tmp.c_str()) == 0)
			(void)::renameat2(folder, tmp.c_str(), folder, name.c_str(), RENAME_NOREPLACE);
	};
	for (std::size_t i = 0; i < layers; ++i) {
		std::string id = fmt::format("{:064x}", i), link = fmt::format("{:026X}", i);
		make(folders[0], id, "RO/" + id);
		make(folders[1], id, "RO/" + id);
		make(folders[2], link, "../" + id + "/diff");
	}
	double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
	for (int fd : folders)
		::close(fd);
	return ms;
}

std::size_t readinessCrawl(const std::string &root, unsigned threads)
{
	struct Item {
		int tree;
		std::string id;
	};
	static constexpr const char *kTrees[] = {"overlay/RO", "overlay-layers/RO", "overlay-images"};
	std::vector<Item> items;
	std::vector<int> treeFds;
	for (int t = 0; t < 3; ++t) {
		std::string path = root + "/" + kTrees[t];
		treeFds.push_back(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		for (const auto &entry : std::filesystem::directory_iterator(path))
			if (std::string id = entry.path().filename().string(); isValidId(id))
				items.push_back({t, std::move(id)});
	}
	std::atomic<std::size_t> next{0};
	auto work = [&] {
		for (std::size_t i; (i = next++) < items.size();) {
			const Item &item = items[i];
			int treeFd = treeFds[static_cast<std::size_t>(item.tree)];
			lookAt(treeFd, item.id.c_str());
			int fd = ::openat(treeFd, item.id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				continue;
			if (item.tree == 0) {
				readWhole(fd, "link");
				readWhole(fd, "lower");
				lookAt(fd, "diff");
			} else if (item.tree == 1) {
				readWhole(fd, "layer.json");
			} else {
				readWhole(fd, "images.json");
				readWhole(fd, "manifest");
				DIR *dir = ::fdopendir(::dup(fd));
				while (dir)
					if (struct dirent *e = ::readdir(dir); !e)
						break;
					else if (e->d_name[0] != '.' && std::string_view(e->d_name) != "images.json" &&
						 std::string_view(e->d_name) != "manifest")
						lookAt(fd, e->d_name);
				if (dir)
					::closedir(dir);
			}
			::close(fd);
		}
	};
	std::vector<std::thread> pool;
	for (unsigned t = 0; t < threads; ++t)
		pool.emplace_back(work);
	for (auto &thread : pool)
		thread.join();
	for (int fd : treeFds)
		::close(fd);
	return items.size();
}

} // namespace lw::bench

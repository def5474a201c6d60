// The benchmarks' small tools (bench_common.h).
#include "bench_common.h"

#include <fmt/format.h>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace lw::bench {

void waitLoaded(Watcher &watcher)
{
	for (auto until = Clock::now() + 120s; watcher.stats().rescans < 1 && Clock::now() < until;)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

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

void Report::add(const std::string &key, double value)
{
	json.push_back(fmt::format("\"{}\": {:.4f}", key, value));
}

void Report::target(const std::string &what, const std::string &figure, bool met)
{
	targets.push_back(fmt::format("| {} | {} | {} |", what, figure, met ? "met" : "**missed**"));
}

void say(const std::string &text)
{
	std::printf("%s\n", text.c_str());
	std::fflush(stdout);
}

bool fanotifyHere(const std::string &path)
{
	return Watcher::create({.root = path, .mode = WatchMode::Fanotify}, nullptr).ok();
}

Watcher::EventCallback AddedLog::sink()
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

bool AddedLog::waitReady(std::chrono::milliseconds timeout)
{
	std::unique_lock lock(mutex);
	return cv.wait_for(lock, timeout, [&] { return ready; });
}

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

} // namespace lw::bench

// The benchmarks' small tools, shared by every section: timing, percentiles, files,
// the report, and a log of what a watcher told.
#pragma once

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace lw::bench {

using Clock = std::chrono::steady_clock;

// start() returns at once: the initial load (the first rescan) is waited out here.
void waitLoaded(Watcher &watcher);

double threadCpuMs();
double processCpuMs();
double since(Clock::time_point t);

double percentile(std::vector<double> v, double p);
double median(const std::vector<double> &v);

void writeText(const std::string &path, const std::string &text);
void saveSamples(const std::string &path, const std::vector<double> &v);

// An empty folder work/name (emptied if it was there).
std::string fresh(const std::string &work, const std::string &name);

// The report: JSON results and a Markdown page, filled as sections finish.
struct Report {
	std::vector<std::string> json;  // "key": value entries
	std::string markdown;
	std::vector<std::string> targets; // "| target | figure | met |" rows

	void add(const std::string &key, double value);
	void target(const std::string &what, const std::string &figure, bool met);
};

// A line of progress on stdout, flushed (a full run is long).
void say(const std::string &text);

// Whether this process may have fanotify on the filesystem holding path.
bool fanotifyHere(const std::string &path);

// What a watcher told: whether it is ready, and when each image was added; waited on
// from the bench's own thread.
struct AddedLog {
	std::mutex mutex;
	std::condition_variable cv;
	std::map<std::string, Clock::time_point> added;
	bool ready = false;

	Watcher::EventCallback sink();
	bool waitReady(std::chrono::milliseconds timeout);
};

// Images published by writer on top, each at a random phase of the tick; the time from
// each publish to its image_added, in ms. tag keeps the configs (and ids) apart.
std::vector<double> detectionLatencies(StoreWriter &writer, const std::string &top, unsigned interval, int samples,
				       const std::string &tag, AddedLog &log, std::mt19937 &rng,
				       std::chrono::milliseconds slack);

} // namespace lw::bench

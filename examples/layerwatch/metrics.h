// `watch --metrics-file`: the watcher's counters in Prometheus' text format, written
// as node_exporter's textfile collector expects (aside, then renamed over the file).
#pragma once

#include <layerwatch/result.h>
#include <layerwatch/watcher.h>

#include <string>

namespace lwcli {

struct MetricsView {
	std::string root;
	bool ready = false;
	std::size_t images = 0, layers = 0;
	std::size_t pendingOverlays = 0, pendingLayers = 0, pendingImages = 0;
	lw::WatcherStats stats;
};

// What the watcher shows now.
MetricsView viewOf(const std::string &root, bool ready, const lw::Watcher &watcher);

// The exposition text (version 0.0.4): # HELP, # TYPE, then the samples.
std::string prometheusText(const MetricsView &view);

// Writes text to "<path>.tmp-<random>" beside path (never read by the collector, which
// reads *.prom), made anew (O_EXCL, no link followed: nothing planted there is written
// through), and renames it over path, so a reader never sees half a file.
lw::Result<void> writeMetricsFile(const std::string &path, const std::string &text);

} // namespace lwcli

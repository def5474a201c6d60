// Prometheus text for the watcher's counters.
#include "metrics.h"

#include <lw_config.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

namespace lwcli {

MetricsView viewOf(const std::string &root, bool ready, const lw::Watcher &watcher)
{
	MetricsView view{.root = root, .ready = ready, .stats = watcher.stats()};
	auto snapshot = watcher.snapshot();
	view.images = snapshot.imageCount();
	view.layers = snapshot.layerCount();
	for (const auto &p : watcher.pending())
		++(p.kind == lw::ItemKind::Overlay ? view.pendingOverlays : p.kind == lw::ItemKind::Layer ? view.pendingLayers : view.pendingImages);
	return view;
}

namespace {

// A label value as the format wants it: backslash, double quote and newline escaped.
std::string labelValue(std::string_view text)
{
	std::string out;
	for (char c : text) {
		if (c == '\\' || c == '"')
			out += {'\\', c};
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

} // namespace

std::string prometheusText(const MetricsView &view)
{
	std::string out;
	auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
		out += fmt::format("# HELP layerwatch_{} {}\n# TYPE layerwatch_{} {}\n", name, help, name, type);
	};
	auto sample = [&](std::string_view name, auto value, std::string_view labels = {}) {
		std::string braced = labels.empty() ? std::string() : fmt::format("{{{}}}", labels);
		out += fmt::format("layerwatch_{}{} {}\n", name, braced, value);
	};
	const auto &s = view.stats;
	metric("info", "gauge", "Always 1; the labels say what runs.");
	sample("info", 1, fmt::format("version=\"{}\",backend=\"{}\",root=\"{}\"", LW_VERSION, s.backend, labelValue(view.root)));
	metric("pending", "gauge", "Items not ready, by kind.");
	sample("pending", view.pendingOverlays, "kind=\"overlay\"");
	sample("pending", view.pendingLayers, "kind=\"layer\"");
	sample("pending", view.pendingImages, "kind=\"image\"");
	metric("last_rescan_duration_seconds", "gauge", "Wall time of the last rescan.");
	sample("last_rescan_duration_seconds", fmt::format("{:.6f}", static_cast<double>(s.lastRescanUs) / 1e6));
	// The rest: one unlabelled sample each.
	struct Plain {
		const char *name, *type, *help;
		std::uint64_t value;
	};
	for (const Plain &m : {
		     Plain{"ready", "gauge", "1 once the initial load is done.", view.ready ? 1u : 0u},
		     {"images", "gauge", "Images ready.", view.images},
		     {"layers", "gauge", "Layers ready.", view.layers},
		     {"kernel_events_total", "counter", "Kernel records read (fanotify: of the whole filesystem).", s.kernelEvents},
		     {"rescans_total", "counter", "Tree rescans.", s.rescans},
		     {"resyncs_total", "counter", "Resyncs (overflow, lost watch, stall).", s.resyncs},
		     {"errors_total", "counter", "Error events told.", s.errors},
		     {"troubled", "gauge", "Trees and items that cannot be read right now.", s.troubled},
		     {"stalled_trees", "gauge", "Trees whose read has not come back in time.", s.stalled},
		     {"watches", "gauge", "inotify watches held.", s.watches},
		     {"marks", "gauge", "fanotify marks held.", s.marks},
		     {"reads_in_flight", "gauge", "Reads running on worker threads.", s.readsInFlight},
		     {"remote_calls_total", "counter", "Calls on remote trees' filesystems (about one server request each).",
		      s.remoteCalls},
		     {"remote_tick_calls", "gauge", "Calls on remote trees' filesystems in the last periodic tick.",
		      s.remoteTickCalls},
	     }) {
		metric(m.name, m.type, m.help);
		sample(m.name, m.value);
	}
	return out;
}

namespace {

// Ten characters of [0-9a-z] from the kernel's random source; none if it fails.
std::optional<std::string> randomSuffix()
{
	static constexpr char kChars[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned char bytes[10];
	if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes))
		return std::nullopt;
	std::string out;
	for (unsigned char b : bytes)
		out += kChars[b % 36];
	return out;
}

} // namespace

lw::Result<void> writeMetricsFile(const std::string &path, const std::string &text)
{
	auto failed = [&](int err) { return lw::makeError(err, fmt::format("{}: {}", path, std::strerror(err))); };
	// A name nobody could have planted a link or a hard link at beforehand: made anew
	// (O_EXCL), under a name drawn now; another draw if it is taken all the same.
	std::string aside;
	int fd = -1;
	for (int attempt = 0; attempt < 3 && fd < 0; ++attempt) {
		auto suffix = randomSuffix();
		if (!suffix)
			return failed(errno);
		aside = path + ".tmp-" + *suffix;
		fd = ::open(aside.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return failed(errno);
	int err = 0;
	if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
		err = errno ? errno : EIO; // a short write sets none
	if (::close(fd) != 0 && !err)
		err = errno;
	if (!err && ::rename(aside.c_str(), path.c_str()) != 0)
		err = errno;
	if (err) {
		::unlink(aside.c_str());
		return failed(err);
	}
	return {};
}

} // namespace lwcli

// `layerwatch watch`: the engine on this process's loop, one line per event, run by
// hand or as a service (systemd notify protocol, journal priorities, a metrics file,
// SIGHUP to re-read --config, SIGUSR1 for the stats and the pending list).
#include "commands.h"
#include "event_lines.h"
#include "metrics.h"
#include "options.h"
#include "service.h"
#include "text_out.h"

#include <layerwatch/watcher.h>

#include <fmt/format.h>

#include <uv.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace lwcli {

namespace {

using lw::Result;

constexpr const char *kHelp =
	"usage: layerwatch watch (-r R | -c DAEMON_JSON) [-j] [-m MODE] [-i MS]\n"
	"                        [--metrics-file PATH] [--trust-generation] [-v]\n"
	"\n"
	"Loads the store below R, then follows it: fanotify (as root) or inotify on local\n"
	"trees, a rescan every interval (default 5000 ms) for remote ones. Prints one\n"
	"line per event; with --json, one JSON object per line. Makes and removes the\n"
	"local links of RO layers.\n"
	"\n"
	LW_ROOT_OPTIONS_HELP
	"  -j, --json            JSON lines: event, its fields, ts (Unix ns), source\n"
	"  -m, --mode M          auto (default: fanotify where it may be had, else\n"
	"                        inotify), inotify, fanotify (or exit 1 saying why), poll\n"
	"  -i, --interval MS     rescan period of remote trees, in milliseconds\n"
	"  --local-rescan MS     a slow safety rescan of local trees too, every MS (0,\n"
	"                        the default: none; fanotify says nothing when a tree\n"
	"                        that is a mount of its own is unmounted)\n"
	"  --metrics-file P      write Prometheus text to P every interval (for\n"
	"                        node_exporter's textfile collector: P ends in .prom)\n"
	"  --trust-generation    skip idle rescans while the writer's generation file\n"
	"                        (overlay-images/.layerwatch-generation) is unchanged;\n"
	"                        only for stores whose every writer bumps it (a full\n"
	"                        rescan still runs every 60 s)\n"
	"  -v, --verbose         log debug messages too (warnings and errors always go\n"
	"                        to stderr, with journal priorities under systemd)\n"
	"\n"
	"Signals: SIGINT, SIGTERM stop it (it prints \"stopped\" and exits 0); SIGHUP\n"
	"re-reads --config (a new root: the old view is told removed, then the new\n"
	"one follows, ending with a second \"ready\");\n"
	"SIGUSR1 logs the counters and every pending item. Under systemd (Type=notify)\n"
	"it sends READY=1 after the initial load, STATUS= with the counts, RELOADING=1\n"
	"and STOPPING=1.\n";

int priorityOf(lw::LogLevel level)
{
	switch (level) {
	case lw::LogLevel::Error:
		return 3;
	case lw::LogLevel::Warning:
		return 4;
	case lw::LogLevel::Info:
		return 6;
	case lw::LogLevel::Debug:
		return 7;
	}
	return 6;
}

struct Settings {
	RootChoice choice;
	lw::WatcherOptions options;
	bool json = false, verbose = false;
	std::string metricsFile;
};

// One `watch` run: the loop, its signals, the watcher (and, during a reload that
// changed the root, the one it replaces, until that one has stopped). Loop-bound.
class WatchService {
public:
	explicit WatchService(Settings settings) : s_(std::move(settings)) {}
	int run();

private:
	Result<std::unique_ptr<lw::Watcher>> makeWatcher(const std::string &root);
	void onEvent(unsigned generation, const lw::Event &e);
	void print(const lw::Event &e);
	// A root change: the old view told as removals (see reload).
	void tellRemovals(const lw::Snapshot &old);
	void stop();
	void reload();
	void report();
	void tick();
	std::string status() const;
	void closeHandles();
	// A systemd notification; a socket nobody reads is said once, never waited on.
	void notify(const std::string &state);

	Settings s_;
	uv_loop_t loop_{};
	uv_signal_t signals_[4]{};
	int signalsMade_ = 0;
	uv_timer_t timer_{};
	bool timerMade_ = false;
	std::unique_ptr<lw::Watcher> watcher_, retired_;
	unsigned generation_ = 0; // of watcher_; events of older ones are not printed
	bool ready_ = false, stopping_ = false;
	SystemdNotifier notifier_ = SystemdNotifier::fromEnvironment();
	Log log_ = Log::forStderr();
	bool stdoutJournal_ = Log::isJournal(STDOUT_FILENO);
	std::string lastStatus_;   // the last STATUS= sent
	std::string metricsError_; // the last one logged, not repeated every interval
	bool notifyFullTold_ = false;
};

Result<std::unique_ptr<lw::Watcher>> WatchService::makeWatcher(const std::string &root)
{
	auto options = s_.options;
	options.root = root;
	options.logLevel = s_.verbose ? lw::LogLevel::Debug : lw::LogLevel::Warning;
	// The library logs from its worker threads too: one fwrite per line keeps lines whole.
	options.log = [log = log_](lw::LogLevel level, const std::string &message) {
		log.line(priorityOf(level), printable(message));
	};
	// The new watcher's events count once it is made; until then the old one's do.
	unsigned generation = generation_ + 1;
	auto made = lw::Watcher::create(options, [this, generation](const lw::Event &e) { onEvent(generation, e); });
	if (made)
		generation_ = generation;
	return made;
}

void WatchService::onEvent(unsigned generation, const lw::Event &e)
{
	if (generation != generation_) {
		// The watcher a reload replaced: silent; freed once stopped (allowed from its
		// own Stopped callback).
		if (e.type == lw::EventType::Stopped)
			retired_.reset();
		return;
	}
	print(e);
	if (e.type == lw::EventType::Ready) {
		ready_ = true;
		lastStatus_ = status();
		notify("READY=1\nSTATUS=" + lastStatus_);
		tick();
	}
}

void WatchService::print(const lw::Event &e)
{
	std::string line = s_.json ? jsonLine(e) : textLine(e);
	// Text lines carry their priority when stdout is the journal; JSON lines stay
	// exactly as the contract has them.
	if (stdoutJournal_ && !s_.json)
		line = fmt::format("<{}>{}", eventPriority(e), line);
	line += '\n';
	writeAll(stdout, line);
	std::fflush(stdout);
}

void WatchService::tellRemovals(const lw::Snapshot &old)
{
	for (const auto &image : old.images())
		print({.type = lw::EventType::ImageRemoved, .id = image->id, .image = image, .source = lw::EventSource::Stop});
	// Layers children first, as the library removes them: by depth in the old view.
	auto layers = old.layers();
	auto depth = [&](const lw::LayerPtr &layer) {
		std::size_t d = 0;
		for (auto at = layer; at && !at->parent.empty() && d <= layers.size(); at = old.layer(at->parent))
			++d;
		return d;
	};
	std::vector<std::pair<std::size_t, lw::LayerPtr>> ordered;
	for (const auto &layer : layers)
		ordered.emplace_back(depth(layer), layer);
	std::stable_sort(ordered.begin(), ordered.end(), [](const auto &a, const auto &b) { return a.first > b.first; });
	for (const auto &[d, layer] : ordered)
		print({.type = lw::EventType::LayerRemoved, .id = layer->id, .layer = layer, .source = lw::EventSource::Stop});
}

void WatchService::notify(const std::string &state)
{
	if (notifier_.send(state) == -EAGAIN && !notifyFullTold_) {
		notifyFullTold_ = true;
		log_.line(4, "systemd's notify socket is full (nobody reads it): notifications are dropped");
	}
}

std::string WatchService::status() const
{
	if (!watcher_)
		return "stopped";
	auto snapshot = watcher_->snapshot();
	auto stats = watcher_->stats();
	return fmt::format("{} images, {} layers, {} pending{}", snapshot.imageCount(), snapshot.layerCount(), stats.pending,
			   ready_ ? "" : " (loading)");
}

// Every interval: the status line and the metrics file.
void WatchService::tick()
{
	if (!watcher_ || stopping_)
		return;
	// STATUS= when the counts changed, not every interval.
	if (std::string now = status(); ready_ && now != lastStatus_) {
		notify("STATUS=" + now);
		lastStatus_ = now;
	}
	if (s_.metricsFile.empty())
		return;
	auto written = writeMetricsFile(s_.metricsFile, prometheusText(viewOf(s_.options.root, ready_, *watcher_)));
	std::string error = written ? std::string() : written.error().message;
	if (!error.empty() && error != metricsError_)
		log_.line(4, printable("metrics file " + error));
	metricsError_ = error;
}

void WatchService::stop()
{
	if (stopping_)
		return;
	stopping_ = true;
	notify("STOPPING=1");
	if (watcher_)
		watcher_->stop();
	closeHandles();
}

void WatchService::closeHandles()
{
	for (int i = 0; i < signalsMade_; ++i)
		uv_close(reinterpret_cast<uv_handle_t *>(&signals_[i]), nullptr);
	signalsMade_ = 0;
	if (timerMade_)
		uv_close(reinterpret_cast<uv_handle_t *>(&timer_), nullptr);
	timerMade_ = false;
}

void WatchService::reload()
{
	if (stopping_)
		return;
	if (s_.choice.config.empty()) {
		log_.line(5, "SIGHUP: started with --root, not --config: nothing to re-read");
		return;
	}
	notify("RELOADING=1");
	std::string root;
	if (resolveRoot("watch", s_.choice, root) != 0) {
		log_.line(4, printable("SIGHUP: " + s_.choice.config + " cannot be used: still following " + s_.options.root));
	} else if (root == s_.options.root) {
		log_.line(6, printable("SIGHUP: " + s_.choice.config + " re-read: the root is still " + root));
	} else if (auto next = makeWatcher(root); !next) {
		log_.line(3, printable("SIGHUP: cannot follow " + root + ": " + next.error().message + "; still following " +
				       s_.options.root));
	} else {
		log_.line(5, printable("SIGHUP: the root is now " + root + " (was " + s_.options.root + "): a new view follows"));
		// What the old view told goes first, as removals (source `stop`): a consumer
		// that follows the lines holds exactly the new view at its ready, with no rule
		// of its own for a reload. (The old watcher is silent from here: the removals
		// are of what it told.)
		tellRemovals(watcher_->snapshot());
		retired_ = std::move(watcher_);
		retired_->stop();
		watcher_ = std::move(*next);
		s_.options.root = root;
		ready_ = false;
		if (auto r = watcher_->attach(&loop_); !r) {
			log_.line(3, printable("cannot start on " + root + ": " + r.error().message));
			stop();
		}
		return; // READY=1 follows the new view's ready
	}
	notify("READY=1");
}

// SIGUSR1: what an operator asks a stuck-looking service.
void WatchService::report()
{
	if (!watcher_)
		return;
	auto s = watcher_->stats();
	auto snapshot = watcher_->snapshot(); // one, so that the two counts agree
	log_.line(6, fmt::format("stats: backend={} images={} layers={} pending={} kernel_events={} rescans={} resyncs={} "
				 "errors={} troubled={} stalled={} watches={} marks={} reads_in_flight={} last_rescan_us={}",
				 s.backend, snapshot.imageCount(), snapshot.layerCount(), s.pending,
				 s.kernelEvents, s.rescans, s.resyncs, s.errors, s.troubled, s.stalled, s.watches, s.marks,
				 s.readsInFlight, s.lastRescanUs));
	for (const auto &p : watcher_->pending())
		log_.line(6, fmt::format("pending {} {}: {}", lw::name(p.kind), printable(p.id), printable(p.reason)));
}

// libuv aborts the process when its first loop cannot have its pipes (an epoll fd and
// two pipes): check that that many fds can be had (ulimit -n very low).
bool loopFdsAvailable(int &err)
{
	int fds[6];
	int made = 0;
	while (made < 6 && ::pipe2(fds + made, O_CLOEXEC) == 0)
		made += 2;
	err = errno;
	for (int i = 0; i < made; ++i)
		::close(fds[i]);
	return made == 6;
}

int WatchService::run()
{
	auto first = makeWatcher(s_.options.root);
	if (!first) {
		std::fprintf(stderr, "layerwatch watch: %s\n", printable(first.error().message).c_str());
		return 1;
	}
	watcher_ = std::move(*first);
	if (int err = 0; !loopFdsAvailable(err)) {
		std::fprintf(stderr, "layerwatch watch: cannot make an event loop: %s (ulimit -n?)\n", std::strerror(err));
		return 1;
	}
	if (int r = uv_loop_init(&loop_); r < 0) {
		std::fprintf(stderr, "layerwatch watch: cannot make an event loop: %s\n", uv_strerror(r));
		return 1;
	}
	static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
	int failed = 0;
	for (int i = 0; i < 4 && failed == 0; ++i) {
		failed = uv_signal_init(&loop_, &signals_[i]);
		if (failed != 0)
			break;
		++signalsMade_;
		signals_[i].data = this;
		failed = uv_signal_start(&signals_[i], [](uv_signal_t *h, int signum) {
			auto *self = static_cast<WatchService *>(h->data);
			if (signum == SIGHUP)
				self->reload();
			else if (signum == SIGUSR1)
				self->report();
			else
				self->stop();
		}, kSignals[i]);
	}
	if (failed == 0 && (failed = uv_timer_init(&loop_, &timer_)) == 0) {
		timerMade_ = true;
		timer_.data = this;
		// A status and metrics period of at least 100 ms, whatever the interval.
		std::uint64_t period = std::max<std::uint64_t>(s_.options.intervalMs, 100);
		failed = uv_timer_start(&timer_, [](uv_timer_t *h) { static_cast<WatchService *>(h->data)->tick(); }, period, period);
	}
	auto r = failed == 0 ? watcher_->attach(&loop_)
			     : lw::Result<void>(lw::makeError(-failed, std::string("cannot handle signals: ") + uv_strerror(failed)));
	if (!r) {
		std::fprintf(stderr, "layerwatch watch: %s\n", printable(r.error().message).c_str());
		closeHandles();
		uv_run(&loop_, UV_RUN_DEFAULT);
		uv_loop_close(&loop_);
		return 1;
	}
	uv_run(&loop_, UV_RUN_DEFAULT);
	int closed = uv_loop_close(&loop_);
	if (closed != 0) {
		std::fprintf(stderr, "layerwatch watch: loop did not close: %s\n", uv_strerror(closed));
		return 1;
	}
	if (watcher_->stats().readsInFlight > 0) {
		// A read is stuck in the kernel on a server that stopped answering. Exit now:
		// exit handlers could wait for it (LeakSanitizer stops every thread first).
		std::fflush(stdout);
		std::fflush(stderr);
		::_exit(0);
	}
	return 0;
}

} // namespace

int runWatch(const Args &args)
{
	Settings s;
	std::string mode, interval, localRescan;
	auto options = rootOptions(s.choice);
	options.insert(options.end(), {flag("--json", 'j', s.json), flag("--verbose", 'v', s.verbose),
				       flag("--trust-generation", 0, s.options.trustGeneration),
				       text("--mode", 'm', mode), text("--interval", 'i', interval),
				       text("--local-rescan", 0, localRescan),
				       text("--metrics-file", 0, s.metricsFile)});
	if (auto done = parseArgs("watch", args, options, kHelp))
		return *done;
	if (!mode.empty() && !lw::parseWatchMode(mode, s.options.mode))
		return usageError("watch", "--mode takes auto, inotify, fanotify or poll");
	if (!interval.empty()) {
		auto ms = parseWhole(interval, 1, 86400000);
		if (!ms)
			return usageError("watch", "--interval takes milliseconds, 1 to 86400000");
		s.options.intervalMs = static_cast<std::uint32_t>(*ms);
	}
	if (!localRescan.empty()) {
		// (Below 100 ms a rescan of every local tree would be a busy loop, not a safety net.)
		auto ms = parseWhole(localRescan, 0, 86400000);
		if (!ms || (*ms > 0 && *ms < 100))
			return usageError("watch", "--local-rescan takes milliseconds: 0 (none) or 100 to 86400000");
		s.options.localRescanMs = static_cast<std::uint32_t>(*ms);
	}
	// A folder with none of the three trees is a mistyped root (scan and images say so
	// too), not a store to wait for: exit 1 with the likely root.
	if (int r = resolveStore("watch", s.choice, s.options.root); r != 0)
		return r;
	return WatchService(std::move(s)).run();
}

} // namespace lwcli

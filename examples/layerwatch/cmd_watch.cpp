// `layerwatch watch --root R [--json] [--mode M] [--interval MS]`: the engine on
// this process's loop, one line per event, until SIGINT or SIGTERM.
#include "commands.h"
#include "json_out.h"
#include "options.h"

#include <layerwatch/watcher.h>

#include <fmt/format.h>

#include <uv.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <ctime>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch watch (--root R | --config DAEMON_JSON) [--json]\n"
	"                        [--mode auto|inotify|fanotify|poll]\n"
	"                        [--interval MS] [--trust-generation] [--verbose]\n"
	"\n"
	"Loads the store below R, then follows it: fanotify (as root) or inotify on local\n"
	"trees, a rescan every interval (default 5000 ms) for remote ones. Prints one\n"
	"line per event; with --json, one JSON object per line. Makes and removes the\n"
	"local links of RO layers. SIGINT or SIGTERM stops it (it prints \"stopped\" and\n"
	"exits 0).\n"
	"\n"
	"  --root R        the storage root (iSulad: /var/lib/isulad/storage)\n"
	"  --config F      iSulad's daemon.json: root = graph + /storage (needs\n"
	"                  storage-enable-remote-layer: true)\n"
	"  --json          JSON lines: event, its fields, ts (Unix ns) and source\n"
	"  --mode M        auto (default: fanotify where it may be had, else inotify),\n"
	"                  inotify, fanotify (or exit 1 saying why), poll\n"
	"  --interval MS   rescan period of remote trees, in milliseconds\n"
	"  --trust-generation  skip idle rescans while the writer's generation file\n"
	"                  (overlay-images/.layerwatch-generation) is unchanged; only for\n"
	"                  stores whose every writer bumps it (a full rescan still runs\n"
	"                  every 60 s)\n"
	"  --verbose       log to stderr\n";

std::uint64_t unixNs()
{
	return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string jsonLine(const lw::Event &e)
{
	JsonOut out;
	auto &w = out.w();
	w.StartObject();
	out.field("event", lw::eventName(e.type));
	switch (e.type) {
	case lw::EventType::Ready:
		out.key("images");
		w.Uint64(e.imageCount);
		out.key("layers");
		w.Uint64(e.layerCount);
		out.key("pending");
		w.Uint64(e.pendingCount);
		out.field("backend", e.backend);
		break;
	case lw::EventType::LayerAdded:
	case lw::EventType::LayerRemoved:
		out.field("id", e.id);
		if (e.layer && !e.layer->parent.empty())
			out.field("parent", e.layer->parent);
		break;
	case lw::EventType::ImageAdded:
	case lw::EventType::ImageUpdated:
	case lw::EventType::ImageRemoved:
		out.field("id", e.id);
		out.strings("names", e.image ? e.image->names : std::vector<std::string>{});
		out.field("top_layer", e.image ? e.image->topLayer : std::string());
		break;
	case lw::EventType::Pending:
		out.field("kind", e.kind);
		out.field("id", e.id);
		out.field("reason", e.reason);
		break;
	case lw::EventType::Resync:
		out.field("tree", e.tree);
		out.field("reason", e.reason);
		break;
	case lw::EventType::Error:
		out.field("message", e.message);
		if (!e.tree.empty())
			out.field("tree", e.tree);
		if (!e.id.empty())
			out.field("id", e.id);
		if (const char *name = e.code ? ::strerrorname_np(e.code) : nullptr)
			out.field("errno", name);
		break;
	case lw::EventType::Stopped:
		break;
	}
	out.key("ts");
	w.Uint64(unixNs());
	out.field("source", lw::sourceName(e.source));
	w.EndObject();
	return out.str();
}

std::string textLine(const lw::Event &e)
{
	auto now = std::chrono::system_clock::now();
	std::time_t t = std::chrono::system_clock::to_time_t(now);
	struct tm tm;
	localtime_r(&t, &tm);
	auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
	std::string what;
	switch (e.type) {
	case lw::EventType::Ready:
		what = fmt::format("{} images, {} layers, {} pending", e.imageCount, e.layerCount, e.pendingCount);
		break;
	case lw::EventType::LayerAdded:
	case lw::EventType::LayerRemoved:
		what = e.id.substr(0, 12);
		if (e.layer && !e.layer->parent.empty())
			what += " parent " + e.layer->parent.substr(0, 12);
		break;
	case lw::EventType::ImageAdded:
	case lw::EventType::ImageUpdated:
	case lw::EventType::ImageRemoved:
		what = e.id.substr(0, 12);
		if (e.image)
			for (const auto &n : e.image->names)
				what += " " + n;
		break;
	case lw::EventType::Pending:
		what = fmt::format("{} {}: {}", e.kind, e.id.substr(0, 12), e.reason);
		break;
	case lw::EventType::Resync:
		what = fmt::format("{}: {}", e.tree, e.reason);
		break;
	case lw::EventType::Error:
		what = e.message;
		break;
	case lw::EventType::Stopped:
		break;
	}
	return fmt::format("{:02}:{:02}:{:02}.{:03} {:<14} {} ({})", tm.tm_hour, tm.tm_min, tm.tm_sec, ms,
			   lw::eventName(e.type), what, lw::sourceName(e.source));
}

struct SignalStop {
	lw::Watcher *watcher;
	uv_signal_t signals[2];
};

void onSignal(uv_signal_t *handle, int)
{
	auto *stop = static_cast<SignalStop *>(handle->data);
	stop->watcher->stop();
	for (auto &s : stop->signals)
		uv_close(reinterpret_cast<uv_handle_t *>(&s), nullptr);
}

} // namespace

int runWatch(const Args &args)
{
	lw::WatcherOptions options;
	RootChoice choice;
	bool json = false, verbose = false;
	for (ArgWalker a{"watch", args}; a.i < args.size(); ++a.i) {
		const auto &arg = args[a.i];
		if (arg == "--help" || arg == "-h") {
			std::fputs(kHelp, stdout);
			return 0;
		} else if (arg == "--json") {
			json = true;
		} else if (arg == "--verbose") {
			verbose = true;
		} else if (arg == "--trust-generation") {
			options.trustGeneration = true;
		} else if (int r = a.takeRoot(choice); r >= 0) {
			if (r > 0)
				return r;
		} else if (arg == "--mode") {
			auto v = a.value();
			if (!v || !lw::parseWatchMode(*v, options.mode))
				return usageError("watch", "--mode takes auto, inotify, fanotify or poll");
		} else if (arg == "--interval") {
			auto v = a.value();
			char *end = nullptr;
			unsigned long ms = v ? std::strtoul(v->c_str(), &end, 10) : 0;
			if (!v || v->empty() || *end != '\0' || ms == 0 || ms > 86400000)
				return usageError("watch", "--interval takes milliseconds, 1 to 86400000");
			options.intervalMs = static_cast<std::uint32_t>(ms);
		} else {
			return a.unknown();
		}
	}
	if (int r = resolveRoot("watch", choice, options.root); r != 0)
		return r;
	if (verbose) {
		options.logLevel = lw::LogLevel::Debug;
		options.log = [](lw::LogLevel, const std::string &message) {
			std::fprintf(stderr, "layerwatch: %s\n", message.c_str());
		};
	}

	auto watcher = lw::Watcher::create(options, [json](const lw::Event &e) {
		std::string line = json ? jsonLine(e) : textLine(e);
		std::fprintf(stdout, "%s\n", line.c_str());
		std::fflush(stdout);
	});
	if (!watcher) {
		std::fprintf(stderr, "layerwatch watch: %s\n", watcher.error().message.c_str());
		return 1;
	}
	// libuv aborts the process when its first loop cannot have its pipes (an epoll
	// fd and two pipes): make sure that many fds can be had (ulimit -n very low),
	// and fail cleanly if not.
	{
		int fds[6];
		int made = 0;
		while (made < 6 && ::pipe2(fds + made, O_CLOEXEC) == 0)
			made += 2;
		int err = errno;
		for (int i = 0; i < made; ++i)
			::close(fds[i]);
		if (made < 6) {
			std::fprintf(stderr, "layerwatch watch: cannot make an event loop: %s (ulimit -n?)\n", std::strerror(err));
			return 1;
		}
	}
	uv_loop_t loop;
	if (int r = uv_loop_init(&loop); r < 0) {
		std::fprintf(stderr, "layerwatch watch: cannot make an event loop: %s\n", uv_strerror(r));
		return 1;
	}
	SignalStop stop{watcher->get(), {}};
	int signalsMade = 0;
	int failed = 0;
	for (int i = 0; i < 2 && failed == 0; ++i) {
		failed = uv_signal_init(&loop, &stop.signals[i]);
		if (failed == 0) {
			++signalsMade;
			stop.signals[i].data = &stop;
			failed = uv_signal_start(&stop.signals[i], onSignal, i == 0 ? SIGINT : SIGTERM);
		}
	}
	auto r = failed == 0 ? (*watcher)->attach(&loop)
			     : lw::Result<void>(lw::makeError(-failed, std::string("cannot handle SIGINT and SIGTERM: ") +
									  uv_strerror(failed)));
	if (!r) {
		std::fprintf(stderr, "layerwatch watch: %s\n", r.error().message.c_str());
		for (int i = 0; i < signalsMade; ++i)
			uv_close(reinterpret_cast<uv_handle_t *>(&stop.signals[i]), nullptr);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	int closed = uv_loop_close(&loop);
	if (closed != 0) {
		std::fprintf(stderr, "layerwatch watch: loop did not close: %s\n", uv_strerror(closed));
		return 1;
	}
	if ((*watcher)->stats().readsInFlight > 0) {
		// A read is stuck in the kernel on a server that stopped answering. Exit now:
		// exit handlers could wait for it (LeakSanitizer stops every thread first).
		std::fflush(stdout);
		std::fflush(stderr);
		::_exit(0);
	}
	return 0;
}

} // namespace lwcli

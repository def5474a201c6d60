// `layerwatch demo`: the embedded default. A temporary store; the watcher on a
// thread of its own; and a writer pulling three images into the store file by file:
// one slowly in iSulad's order, one whose layers arrive after its manifest, one
// removed at the end. Events are shown as they happen, then a summary with the
// measured latencies. Cleans up and exits 0.
#include "commands.h"
#include "options.h"

#include <layerwatch/model.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <random>
#include <thread>

namespace lwcli {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// What the watcher told us, with when, so that the writer can wait and measure.
class Seen {
public:
	void record(const lw::Event &e)
	{
		std::lock_guard lock(mutex_);
		at_[key(e.type, e.id)] = Clock::now();
		changed_.notify_all();
	}
	// Waits (at most 10 s) for an event; returns when it came.
	std::optional<Clock::time_point> waitFor(lw::EventType type, const std::string &id)
	{
		std::unique_lock lock(mutex_);
		if (!changed_.wait_for(lock, 10s, [&] { return at_.count(key(type, id)) > 0; }))
			return std::nullopt;
		return at_[key(type, id)];
	}

private:
	static std::string key(lw::EventType type, const std::string &id) { return fmt::format("{}/{}", int(type), id); }
	std::mutex mutex_;
	std::condition_variable changed_;
	std::map<std::string, Clock::time_point> at_;
};

std::string randomId(std::mt19937_64 &rng)
{
	static constexpr char kHex[] = "0123456789abcdef";
	std::string id(64, '0');
	for (auto &c : id)
		c = kHex[rng() % 16];
	return id;
}

void writeFile(const std::string &path, const std::string &content)
{
	std::ofstream(path, std::ios::trunc) << content;
}

void say(const std::string &text)
{
	std::printf("%s\n", text.c_str());
	std::fflush(stdout);
}

// busybox, written file by file in iSulad's order with pauses, no folder renamed
// into place: the reader must wait for the manifest.
Clock::time_point pullSlowly(const std::string &root, const std::string &layer, const std::string &image)
{
	auto pause = [] { std::this_thread::sleep_for(120ms); };
	std::string o = root + "/overlay/RO/" + layer, m = root + "/overlay-layers/RO/" + layer;
	::mkdir(o.c_str(), 0755), pause();
	::mkdir((o + "/diff").c_str(), 0755), pause();
	writeFile(o + "/link", layer.substr(0, 26)), pause();
	::mkdir((o + "/empty").c_str(), 0755), pause();
	::mkdir(m.c_str(), 0755), pause();
	writeFile(m + "/" + layer + ".tar-split.gz", ""), pause();
	lw::LayerRecord record;
	record.id = layer;
	record.diffDigest = "sha256:" + layer;
	writeFile(m + "/layer.json", lw::toJson(record)), pause();
	std::string d = root + "/overlay-images/" + image;
	::mkdir(d.c_str(), 0755);
	lw::ImageRecord img;
	img.id = image;
	img.layer = layer;
	img.names = {"busybox:latest"};
	img.bigDataNames = {"sha256:" + image, "manifest"};
	writeFile(d + "/images.json", lw::toJson(img)), pause();
	writeFile(d + "/" + lw::bigDataFileName("sha256:" + image), "{}"), pause();
	lw::Manifest manifest;
	manifest.configDigest = "sha256:" + image;
	manifest.layerDigests = {"sha256:" + layer};
	auto wrote = Clock::now();
	writeFile(d + "/manifest", lw::toJson(manifest));
	return wrote;
}

std::string ms(Clock::duration d)
{
	return fmt::format("{:.2f} ms", std::chrono::duration<double, std::milli>(d).count());
}

} // namespace

int runDemo(const Args &args)
{
	constexpr const char *kHelp =
		"usage: layerwatch demo\n"
		"\n"
		"Makes a temporary store, starts the watcher on it, and has a writer pull three\n"
		"images into it file by file (one slowly, one whose layers arrive after its\n"
		"manifest, one removed at the end), showing the events as they happen and the\n"
		"measured latencies. Cleans up after itself.\n";
	if (auto done = parseArgs("demo", args, {}, kHelp))
		return *done;
	std::string base = std::filesystem::temp_directory_path() / "layerwatch-demo-XXXXXX";
	if (!::mkdtemp(base.data())) {
		std::perror("layerwatch demo: mkdtemp");
		return 1;
	}
	std::string root = base + "/storage";
	say(fmt::format("layerwatch demo: a store at {}", root));
	auto started = Clock::now();
	Seen seen;
	int status = 0;
	{
		auto writer = lw::StoreWriter::open(root, {.durable = false, .makeLinks = false});
		auto watcher = writer ? lw::Watcher::create({.root = root}, [&](const lw::Event &e) {
			std::string what = e.id.substr(0, 12);
			if (e.image && !e.image->names.empty())
				what += " " + e.image->names.front();
			if (e.type == lw::EventType::Pending)
				what = fmt::format("{} {}: {}", lw::name(e.kind), e.id.substr(0, 12), e.reason);
			if (e.type == lw::EventType::Ready)
				what = fmt::format("{} images, {} layers, followed by {}", e.imageCount, e.layerCount, e.backend);
			say(fmt::format("  {:>8} | {:<14} {} ({})", ms(Clock::now() - started), lw::eventName(e.type), what,
					lw::sourceName(e.source)));
			seen.record(e);
		}) : lw::Result<std::unique_ptr<lw::Watcher>>(writer.error());
		if (!watcher || !(*watcher)->start()) {
			std::fprintf(stderr, "layerwatch demo: cannot start: %s\n",
				     watcher ? "watcher" : watcher.error().message.c_str());
			std::filesystem::remove_all(base);
			return 1;
		}
		std::mt19937_64 rng(std::random_device{}());
		std::vector<std::string> latencies;
		auto check = [&](bool ok, const std::string &what) {
			if (!ok) {
				std::fprintf(stderr, "layerwatch demo: %s\n", what.c_str());
				status = 1;
			}
			return ok;
		};

		// 1. busybox, slowly, in iSulad's order.
		say("\n1. busybox: pulled file by file in iSulad's order (manifest last)");
		std::string busyLayer = randomId(rng), busybox = randomId(rng);
		auto wrote = pullSlowly(root, busyLayer, busybox);
		auto added = seen.waitFor(lw::EventType::ImageAdded, busybox);
		if (check(added.has_value(), "busybox never arrived"))
			latencies.push_back("busybox: manifest written -> image_added " + ms(*added - wrote));

		// 2. nginx: its image first, its two layers after it.
		say("\n2. nginx: the image arrives before its layers");
		std::string nginxBase = randomId(rng), nginxTop = randomId(rng);
		auto nginx = writer->publishImage({.topLayer = nginxTop, .names = {"nginx:1.25"}});
		check(nginx.ok(), "nginx image: " + (nginx ? std::string() : nginx.error().message));
		std::this_thread::sleep_for(300ms);
		check(writer->addLayer({.id = nginxBase}).ok(), "nginx base layer");
		auto lastLayer = Clock::now();
		check(writer->addLayer({.id = nginxTop, .parent = nginxBase}).ok(), "nginx top layer");
		if (nginx) {
			auto nginxAdded = seen.waitFor(lw::EventType::ImageAdded, *nginx);
			if (check(nginxAdded.has_value(), "nginx never arrived"))
				latencies.push_back("nginx: last layer renamed in -> image_added " + ms(*nginxAdded - lastLayer));
		}

		// 3. alpine: published at once, then removed, image first.
		say("\n3. alpine: published, then removed (image first, then its layer)");
		std::string alpineLayer = randomId(rng);
		check(writer->addLayer({.id = alpineLayer}).ok(), "alpine layer");
		auto alpine = writer->publishImage({.topLayer = alpineLayer, .names = {"alpine:3"}});
		if (alpine && seen.waitFor(lw::EventType::ImageAdded, *alpine)) {
			auto removing = Clock::now();
			check(writer->removeImage(*alpine).ok() && writer->removeLayer(alpineLayer).ok(), "removing alpine");
			auto gone = seen.waitFor(lw::EventType::LayerRemoved, alpineLayer);
			if (check(gone.has_value(), "alpine's layer never went"))
				latencies.push_back("alpine: removal started -> layer_removed " + ms(*gone - removing));
		}

		auto snap = (*watcher)->snapshot();
		auto stats = (*watcher)->stats();
		say("\nSummary");
		say(fmt::format("  the store now: {} images, {} layers", snap.imageCount(), snap.layerCount()));
		for (const auto &image : snap.images())
			say(fmt::format("    {} {} ({} layers)", image->id.substr(0, 12),
					image->names.empty() ? "-" : image->names.front(), snap.chain(image->id).size()));
		for (const auto &l : latencies)
			say("  " + l);
		say(fmt::format("  watcher ({}): {} kernel events in {} batches, {} watches, {} marks, {} rescans, "
				"{} resyncs",
				stats.backend, stats.kernelEvents, stats.batches, stats.watches, stats.marks, stats.rescans,
				stats.resyncs));
		(*watcher)->stop();
		(*watcher)->join();
	}
	std::error_code ec;
	std::filesystem::remove_all(base, ec);
	say(fmt::format("\nlayerwatch demo: {} in {}, temporary store removed", status == 0 ? "done" : "failed",
			ms(Clock::now() - started)));
	return status;
}

} // namespace lwcli

// Section 2c: 100 000 images under fanotify (inotify where fanotify cannot be had), and
// new images published into them as in section 1. Full runs only, or --only hundredk.
#include "bench_common.h"
#include "sections.h"
#include "store_generator.h"

#include <layerwatch/model.h>
#include <layerwatch/watcher.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace lw::bench {

namespace {

void hundredThousand(const std::string &work, Report &report)
{
	// Section 2's store when it made one (a full run), else one of our own.
	std::string root = work + "/scale-100000";
	lwbench::GeneratedStore made{100000, 0};
	if (!std::filesystem::exists(root + "/overlay-images")) {
		root = fresh(work, "scale-100000");
		auto g0 = Clock::now();
		auto generated = lwbench::generateStore(root, 100000, lwbench::ChainShape::Shared);
		if (!generated)
			throw std::runtime_error(generated.error().message);
		made = *generated;
		say(fmt::format("100k: generated {} images, {} layers in {:.1f} s", made.images, made.layers, since(g0) / 1000));
	} else {
		for (const auto &entry : std::filesystem::directory_iterator(root + "/overlay-layers/RO"))
			made.layers += isValidId(entry.path().filename().string());
	}
	WatchMode mode = fanotifyHere(root) ? WatchMode::Fanotify : WatchMode::Inotify;
	// A base layer of the generated store: every new image stands on it.
	std::ifstream in(root + "/overlay-images/" + lwbench::generatedImageId(0) + "/images.json");
	std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	auto first = parseImageJson(text);
	if (!first)
		throw std::runtime_error("the generated store's first image does not parse");
	std::string top = first->layer;
	long limit = 0;
	std::ifstream("/proc/sys/fs/inotify/max_user_watches") >> limit;
	auto s = latencySamples(root, top, mode, 200, "e");
	double p50 = median(s.ours), p99 = percentile(s.ours, 0.99), f50 = median(s.floor);
	report.add("hundredk_load_ms", s.loadMs);
	report.add("hundredk_latency_p50_us", p50);
	report.add("hundredk_latency_p99_us", p99);
	report.markdown += fmt::format(
		"## 2c. 100 000 images\n\n"
		"A registry-shaped store of {} images and {} layers, followed by {} (`auto` picks it as\n"
		"root); `fs.inotify.max_user_watches` left at its default here, {}, where inotify would\n"
		"need a watch per image folder ({} and more). Then 200 images published one at a\n"
		"time, as in section 1.\n\n"
		"| initial load | watches | marks | new image p50 | p99 | kernel floor p50 |\n"
		"| --- | --- | --- | --- | --- | --- |\n"
		"| {:.1f} s | {} | {} | {:.1f} µs | {:.1f} µs | {:.1f} µs |\n\n",
		made.images, made.layers, watchModeName(mode), limit, made.images + 3, s.loadMs / 1000, s.loaded.watches,
		s.loaded.marks, p50, p99, f50);
	report.target("100 000 images: a new image found in under 1 ms (p50)", fmt::format("{:.0f} µs", p50), p50 < 1000);
	say(fmt::format("100k ({}): load {:.1f} s, {} watches, {} marks, new image p50 {:.1f} us p99 {:.1f} us",
			watchModeName(mode), s.loadMs / 1000, s.loaded.watches, s.loaded.marks, p50, p99));
	std::filesystem::remove_all(root);
}

} // namespace

void runHundredThousand(const Context &context)
{
	hundredThousand(context.work, context.report);
}

} // namespace lw::bench

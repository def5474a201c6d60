// Section 5: the storm, images written as fast as the writer can until the store
// matches a full scan of the same tree.
#include "bench_common.h"
#include "sections.h"

#include <layerwatch/scan.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace lw::bench {

namespace {

void storm(const std::string &work, bool quick, Report &report)
{
	unsigned long count = quick ? 2000 : 10000;
	std::string root = fresh(work, "storm");
	auto writer = StoreWriter::open(root, {.durable = false, .makeLinks = false});
	std::string base(64, 'a');
	(void)writer->addLayer({.id = base});
	std::atomic<unsigned long> added{0};
	auto watcher = Watcher::create({.root = root, .commitLinks = false}, [&](const Event &e) {
		if (e.type == EventType::ImageAdded)
			++added;
	});
	if (!watcher || !(*watcher)->start())
		throw std::runtime_error("storm watcher did not start");
	waitLoaded(**watcher);
	auto start = Clock::now();
	std::set<std::string> published;
	for (unsigned long i = 0; i < count; ++i)
		published.insert(*writer->publishImage({.topLayer = base, .config = fmt::format("{{\"storm\":{}}}", i)}));
	double writeMs = since(start);
	while (added < count && since(start) < 120000)
		std::this_thread::sleep_for(1ms);
	double doneMs = since(start);
	auto stats = (*watcher)->stats();
	auto snap = (*watcher)->snapshot();
	(*watcher)->stop();
	(*watcher)->join();
	auto scan = scanStore(root);
	std::set<std::string> scanned, inStore;
	for (const auto &i : scan->images)
		scanned.insert(i.image->id);
	for (const auto &i : snap.images())
		inStore.insert(i->id);
	bool matches = scanned == inStore && scanned == published;
	report.add("storm_images", static_cast<double>(count));
	report.add("storm_until_match_ms", doneMs);
	report.add("storm_resyncs", static_cast<double>(stats.resyncs));
	report.markdown += fmt::format(
		"## 5. Storm\n\n{} images written as fast as the writer can ({:.0f} ms of writing). The store\n"
		"held all of them {:.0f} ms after the first write; it {} a full scan of the same tree.\n"
		"Resyncs: {}; kernel events: {} in {} batches; rescans: {}.\n\n",
		count, writeMs, doneMs, matches ? "matches" : "does **not** match", stats.resyncs, stats.kernelEvents,
		stats.batches, stats.rescans);
	if (!matches)
		throw std::runtime_error("the storm's store does not match a full scan");
	say(fmt::format("storm: {} images, matched after {:.0f} ms, {} resyncs", count, doneMs, stats.resyncs));
}

} // namespace

void runStorm(const Context &context)
{
	storm(context.work, context.quick, context.report);
}

} // namespace lw::bench

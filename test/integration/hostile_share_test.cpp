// A share written by someone hostile or buggy: what it may cost a reader is bounded.
#include "event_log.h"
#include "test_support.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <atomic>
#include <fstream>

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace lw;
using lw::test::EventLog;
using namespace std::chrono_literals;

namespace {

// Resident memory after handing back what the allocator keeps but no one uses
// (a load's transient buffers), so that what is measured is what is held.
long residentKiB()
{
	::malloc_trim(0);
	std::ifstream in("/proc/self/status");
	for (std::string line; std::getline(in, line);)
		if (line.rfind("VmRSS:", 0) == 0)
			return std::stol(line.substr(6));
	return 0;
}

} // namespace

TEST_CASE("junk folders cost at most maxPendingWatches watches, and a real image is still found")
{
	lw::test::TempDir tmp(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	// Empty id-named folders: each is a pending layer ("overlay: missing").
	const int junk = 100000 / lw::test::kSlowdown;
	for (int i = 0; i < junk; ++i)
		REQUIRE(::mkdir((root + "/overlay-layers/RO/" + lw::test::makeId()).c_str(), 0755) == 0);

	const std::uint32_t cap = 256;
	long before = residentKiB();
	// The log keeps all but the pending events, so that what is measured is the watcher.
	EventLog log;
	std::atomic<std::uint64_t> pendingEvents = 0;
	auto sink = [&pendingEvents, keep = log.sink()](const Event &e) {
		if (e.type == EventType::Pending)
			++pendingEvents;
		else
			keep(e);
	};
	std::atomic<int> shelfWarnings = 0;
	auto countShelving = [&shelfWarnings](LogLevel level, const std::string &message) {
		if (level == LogLevel::Warning && message.find("not read in full") != std::string::npos)
			++shelfWarnings;
	};
	auto watcher = lw::test::unwrap(
		Watcher::create({.root = root, .mode = lw::test::watchMode(), .maxPendingWatches = cap, .log = countShelving}, sink));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, 60s * lw::test::kSlowdown));
	auto stats = watcher->stats();
	long perJunk = (residentKiB() - before) * 1024 / junk;
	// Every junk folder is counted, whether kept in full or shelved.
	CHECK(stats.pending == static_cast<std::uint64_t>(junk));
	// The three trees, the ready image folders (none) and the capped pending ones.
	CHECK(stats.watches <= 3 + cap);
	// Beyond the first 10 000 junk folders only an identity is kept, and the host is
	// told once rather than by a pending event each. (Kept in full, each costs 2.5 KB.)
	CHECK(shelfWarnings.load() == 1);
	CHECK(pendingEvents.load() == WatcherOptions{}.maxPendingItems);
	if (!LW_SANITIZED)
		CHECK(perJunk < 2048);
	MESSAGE(junk << " junk folders: " << stats.watches << " watches, " << perJunk << " bytes resident per junk folder");

	// With the cap reached, what arrives is still found: the trees stay watched and
	// pending items are looked at by the pending rescan.
	std::size_t mark = log.size();
	std::string image = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));
	REQUIRE(log.waitForEvent(EventType::ImageAdded, image, mark, 40s));
	CHECK(watcher->stats().watches <= 3 + cap + 1);
	watcher->stop();
	watcher->join();
}

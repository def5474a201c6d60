// A share written by someone hostile or buggy: what it may cost a reader is bounded.
#include "event_log.h"
#include "test_support.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

using namespace lw;
using lw::test::EventLog;
using namespace std::chrono_literals;

namespace {

long residentKiB()
{
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
	EventLog log;
	auto watcher = lw::test::unwrap(Watcher::create({.root = root, .maxPendingWatches = cap}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, 60s * lw::test::kSlowdown));
	auto stats = watcher->stats();
	CHECK(stats.pending >= static_cast<std::uint64_t>(junk));
	// The three trees, the ready image folders (none) and the capped pending ones.
	CHECK(stats.watches <= 3 + cap);
	MESSAGE(junk << " junk folders: " << stats.watches << " watches, "
		      << (residentKiB() - before) * 1024 / junk << " bytes resident per junk folder");

	// With the cap reached, what arrives is still found: the trees stay watched and
	// pending items are looked at by the pending rescan.
	std::size_t mark = log.size();
	std::string image = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));
	REQUIRE(log.waitForEvent(EventType::ImageAdded, image, mark, 40s));
	CHECK(watcher->stats().watches <= 3 + cap + 1);
	watcher->stop();
	watcher->join();
}

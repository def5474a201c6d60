// Errors are not absence: every errno a read can give, at every stage of a read
// (listing, statx, open, read), injected through the syscall seam into a watcher
// that holds a loaded store. Each must keep every image, layer and link, be told as
// an error naming the errno, and heal once the fault clears.
#include "event_log.h"
#include "fault.h"
#include "test_support.h"

#include <layerwatch/model.h>
#include <layerwatch/scan.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <cstring>

using namespace lw;
using lw::test::EventLog;
using lw::test::Fault;
using lw::test::FaultStage;
using namespace std::chrono_literals;

namespace {

const int kErrnos[] = {EIO, ESTALE, ETIMEDOUT, ENOTCONN, EACCES, EMFILE, ENFILE, ENOMEM};
const FaultStage kStages[] = {FaultStage::List, FaultStage::Stat, FaultStage::Open, FaultStage::Read};

long countAfter(const std::vector<EventLog::Entry> &all, std::size_t from, EventType type)
{
	return std::count_if(all.begin() + static_cast<long>(from), all.end(),
			     [&](const EventLog::Entry &e) { return e.event.type == type; });
}

void runFaultCase(FaultStage stage, int err)
{
	INFO("stage " << lw::test::faultStageName(stage) << ", errno " << ::strerrorname_np(err));
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId(), top = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.addLayer({.id = top, .parent = base}));
	std::string image = lw::test::unwrap(writer.publishImage({.topLayer = top, .names = {"app:1"}}));

	Fault fault(stage); // installed before any worker reads
	EventLog log;
	auto watcher = lw::test::unwrap(
		Watcher::create({.root = root, .mode = WatchMode::Poll, .intervalMs = 50, .stallMs = 60000, .retryMs = 100}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	REQUIRE(watcher->snapshot().image(image));
	auto linksBefore = lw::test::snapshotTree(root + "/overlay");

	std::size_t mark = log.size();
	fault.arm(err);
	std::string imagesJson = root + "/overlay-images/" + image + "/images.json";
	if (stage == FaultStage::Open || stage == FaultStage::Read) {
		// Only a changed item is opened and read: a tag, as iSulad writes it.
		ImageRecord record = lw::test::unwrap(parseImageJson(lw::test::readFile(imagesJson)));
		record.names.push_back("app:2");
		lw::test::writeFile(imagesJson, toJson(record));
	}
	REQUIRE(log.waitForEvent(EventType::Error, {}, mark, 5s));
	CHECK(fault.hits() > 0);
	// Kept: nothing left the store, no link went.
	CHECK(watcher->snapshot().image(image));
	CHECK(watcher->snapshot().layer(base));
	CHECK(lw::test::snapshotTree(root + "/overlay") == linksBefore);
	CHECK(watcher->stats().troubled > 0);

	fault.clear();
	std::string second;
	if (stage == FaultStage::Open || stage == FaultStage::Read) {
		// Read again once healed: the tag arrives.
		REQUIRE(log.waitForEvent(EventType::ImageUpdated, image, mark, 5s));
		CHECK(watcher->snapshot().imageByName("app:2"));
	} else {
		second = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"after:1"}}));
		REQUIRE(log.waitForEvent(EventType::ImageAdded, second, mark, 5s));
	}
	REQUIRE(lw::test::eventually([&] { return watcher->stats().troubled == 0; }, 5s));

	auto all = log.entries();
	CHECK(countAfter(all, mark, EventType::ImageRemoved) == 0);
	CHECK(countAfter(all, mark, EventType::LayerRemoved) == 0);
	CHECK(countAfter(all, mark, EventType::Pending) == 0);
	// Told once: one error per tree at most, each naming the errno and what comes next.
	long errors = countAfter(all, mark, EventType::Error);
	CHECK(errors >= 1);
	CHECK(errors <= 3);
	for (std::size_t i = mark; i < all.size(); ++i)
		if (all[i].event.type == EventType::Error) {
			CHECK(all[i].event.code == err);
			CHECK(all[i].event.message.find("trying again") != std::string::npos);
		}
	CHECK(lw::test::snapshotTree(root + "/overlay") == linksBefore);
	watcher->stop();
	watcher->join();
	CHECK(watcher->closed());
}

} // namespace

TEST_CASE("no errno at any stage of a read costs an image: kept, told once, healed")
{
	for (FaultStage stage : kStages)
		for (int err : kErrnos)
			runFaultCase(stage, err);
}

TEST_CASE("a tree that cannot be read at start-up is not an empty tree")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	std::string image = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));

	Fault fault(FaultStage::List);
	fault.arm(EIO);
	EventLog log;
	auto watcher = lw::test::unwrap(
		Watcher::create({.root = root, .mode = WatchMode::Poll, .intervalMs = 50, .retryMs = 100}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	CHECK(log.entries().back().event.imageCount == 0);
	CHECK(EventLog::find(log.entries(), EventType::Error, {}) >= 0);
	// No link was made for what could not be read, and none was taken away.
	fault.clear();
	REQUIRE(log.waitForEvent(EventType::ImageAdded, image, 0, 5s));
	CHECK(lw::test::readLinkAt(root + "/overlay/" + base) == "RO/" + base);
	watcher->stop();
	watcher->join();
}

TEST_CASE("scan: a tree or an item that cannot be read is an error, never absence nor a pending reason")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));
	for (FaultStage stage : kStages) {
		CAPTURE(lw::test::faultStageName(stage));
		Fault fault(stage);
		fault.arm(EMFILE);
		auto report = lw::test::unwrap(scanStore(root));
		CHECK_FALSE(report.errors.empty());
		for (const auto &p : report.pending)
			CHECK(p.reason.find("Too many open files") == std::string::npos);
		fault.clear();
		auto whole = lw::test::unwrap(scanStore(root));
		CHECK(whole.errors.empty());
		CHECK(whole.images.size() == 1);
	}
}

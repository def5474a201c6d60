// Remote trees: the shared trees reach the reader through bindfs (FUSE), and the
// writer writes to the folders underneath, so that inotify on the reader's side
// sees nothing, as on NFS. Every change must be found within interval + 1 s.
// Skipped (77) where FUSE or bindfs is missing.
#include "bindfs_mount.h"
#include "event_log.h"
#include "test_support.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <unistd.h>

using namespace lw;
using lw::test::EventLog;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t kIntervalMs = 500;
const auto kDeadline = std::chrono::milliseconds(kIntervalMs) + 1s;

} // namespace

TEST_CASE("changes written underneath a FUSE mount are found by rescanning")
{
	lw::test::TempDir tmp;
	std::string server = tmp / "server", reader = tmp / "reader";
	auto writer = lw::test::unwrap(StoreWriter::open(server, {.durable = false, .makeLinks = false}));
	std::vector<std::unique_ptr<lw::test::BindfsMount>> mounts;
	for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"}) {
		mounts.push_back(std::make_unique<lw::test::BindfsMount>(server + "/" + tree, reader + "/" + tree));
		if (!mounts.back()->mounted())
			lw::test::skipTest("bindfs could not mount");
	}
	EventLog log;
	// Every image verified at every tick: a re-tag is then due within one interval.
	auto watcher = lw::test::unwrap(
		Watcher::create({.root = reader, .intervalMs = kIntervalMs, .verifyPeriodMs = kIntervalMs}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	CHECK(watcher->stats().remote.values == std::array<bool, 3>{true, true, true});
	CHECK(watcher->stats().rescanned.values == std::array<bool, 3>{true, true, true});

	auto timed = [&](EventType type, const std::string &id, std::size_t from) {
		auto start = std::chrono::steady_clock::now();
		bool found = log.waitForEvent(type, id, from, kDeadline + 1s);
		auto took = std::chrono::steady_clock::now() - start;
		MESSAGE(std::string(eventName(type)) << " after " << std::chrono::duration<double, std::milli>(took).count() << " ms");
		CHECK(found);
		CHECK(took <= kDeadline);
	};

	std::string base = lw::test::makeId(), top = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.addLayer({.id = top, .parent = base}));
	std::size_t mark = log.size();
	auto image = lw::test::unwrap(writer.publishImage({.topLayer = top, .names = {"remote:1"}}));
	timed(EventType::ImageAdded, image, mark);
	auto all = log.entries();
	// Found by a rescan: inotify saw nothing through the mount, as on NFS.
	CHECK(all[static_cast<std::size_t>(EventLog::find(all, EventType::ImageAdded, image))].event.source == EventSource::Rescan);
	CHECK(watcher->snapshot().chain(image).size() == 2);
	CHECK(lw::test::readLinkAt(reader + "/overlay/" + top) == "RO/" + top);

	mark = log.size();
	auto record = lw::test::unwrap(parseImageJson(lw::test::readFile(server + "/overlay-images/" + image + "/images.json")));
	record.names.push_back("remote:latest");
	// As iSulad re-tags: a new images.json renamed over the old one, inside the folder.
	std::string folder = server + "/overlay-images/" + image;
	lw::test::writeFile(folder + "/images.json.tmp", toJson(record));
	REQUIRE(::rename((folder + "/images.json.tmp").c_str(), (folder + "/images.json").c_str()) == 0);
	timed(EventType::ImageUpdated, image, mark);

	mark = log.size();
	lw::test::unwrap(writer.removeImage(image));
	lw::test::unwrap(writer.removeLayer(top));
	timed(EventType::LayerRemoved, top, mark);
	CHECK(EventLog::find(log.entries(), EventType::ImageRemoved, image, mark) >= 0);
	CHECK_FALSE(lw::test::exists(reader + "/overlay/" + top));

	auto stats = watcher->stats();
	CHECK(stats.rescans >= 3);
	MESSAGE("last rescan " << stats.lastRescanUs << " us");
	watcher->stop();
	watcher->join();
	CHECK(watcher->closed());
}

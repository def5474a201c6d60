// Remote trees at network speed, on the network filesystem simulator (test/netsim):
// a round trip per operation, attributes and listings cached as NFS caches them.
// An idle tick costs O(1) server operations; additions, removals, a folder made anew
// under the same id and a re-tag are all found; a change within the timestamp tick
// of a listing is not missed. Skipped (77) without libfuse3.
#include "event_log.h"
#include "netsim_mount.h"
#include "sys.h"
#include "test_support.h"

#include <layerwatch/model.h>
#include <layerwatch/watcher.h>
#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <random>
#include <set>

#include <sys/stat.h>

#include <atomic>
#include <memory>

using namespace lw;
using lw::test::EventLog;
using lw::test::NetsimMount;
using lw::test::NetsimOptions;
using namespace std::chrono_literals;

namespace {

constexpr std::array<const char *, 3> kTrees = {"overlay/RO", "overlay-layers/RO", "overlay-images"};

struct SimulatedShare {
	lw::test::TempDir tmp;
	std::string server = tmp / "server", reader = tmp / "reader";
	StoreWriter writer = lw::test::unwrap(StoreWriter::open(server, {.durable = false, .makeLinks = false}));
	std::vector<std::unique_ptr<NetsimMount>> mounts;
	std::string base = lw::test::makeId();

	explicit SimulatedShare(NetsimOptions options)
	{
		if (lw::test::netsimPath().empty())
			lw::test::skipTest("netsim was not built (no libfuse3)");
		lw::test::unwrap(writer.addLayer({.id = base}));
		for (auto tree : kTrees) {
			lw::test::makeDirs(server + "/" + tree);
			mounts.push_back(std::make_unique<NetsimMount>(server + "/" + tree, reader + "/" + tree, options));
			if (!mounts.back()->mounted())
				lw::test::skipTest("netsim could not mount (FUSE)");
		}
	}
	~SimulatedShare() { mounts.clear(); }
	std::string publish(const std::string &name)
	{
		std::string layer = lw::test::makeId();
		lw::test::unwrap(writer.addLayer({.id = layer, .parent = base}));
		return lw::test::unwrap(writer.publishImage({.topLayer = layer, .names = {name}}));
	}
	std::uint64_t operations() const
	{
		std::uint64_t n = 0;
		for (const auto &m : mounts)
			n += m->operations();
		return n;
	}
	void resetCounts()
	{
		for (auto &m : mounts)
			m->resetCounts();
	}
};

} // namespace

TEST_CASE("an idle remote tick costs O(1) server operations, whatever the store's size")
{
	SimulatedShare share({.delayUs = 200, .attrTimeout = 60});
	for (int i = 0; i < 200; ++i)
		(void)share.publish("app:" + std::to_string(i));
	EventLog log;
	constexpr std::uint32_t kInterval = 100;
	auto watcher = lw::test::unwrap(Watcher::create(
		{.root = share.reader, .intervalMs = kInterval, .verifyPeriodMs = 3600000}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, 30s));
	CHECK(watcher->snapshot().imageCount() == 200);
	// The load: an image's folder (fresh), three lookups and two files read; a layer's
	// two folders, five lookups (six for a base layer's empty/) and three files: about
	// 10.6 an item here. A listing brings its entries along, so no folder costs a
	// lookup of its own (over 12 if it did).
	double loadPerItem = static_cast<double>(share.operations()) /
			     static_cast<double>(watcher->snapshot().imageCount() + watcher->snapshot().layerCount());
	MESSAGE("server operations per item in the load: " << loadPerItem);
	CHECK(loadPerItem <= 12);
	// Past the racy-timestamp window of the folders just written: then ticks trust them.
	std::this_thread::sleep_for(2500ms);
	share.resetCounts();
	auto before = watcher->stats();
	std::this_thread::sleep_for(std::chrono::milliseconds(kInterval * 20));
	std::uint64_t ops = share.operations();
	auto after = watcher->stats();
	CHECK(after.rescans == before.rescans); // no tree was listed again
	double perTick = static_cast<double>(ops) / 20;
	MESSAGE("server operations per idle tick: " << perTick << " (store of 200 images, 401 layers)");
	// Per tree: opening it (a lookup, by path, so a remount is seen), its statfs (still
	// its own filesystem?) and its attributes fresh from the server; and a slice of one
	// item per tree (its folder, fresh). A listing would cost a round trip per entry.
	CHECK(perTick <= 15);
	// The watcher's own count of what its ticks cost (stats, metrics) agrees with the
	// server's, within the client's caching and a path's several names.
	double calls = static_cast<double>(after.remoteCalls - before.remoteCalls) / 20;
	MESSAGE("calls the watcher counted per idle tick: " << calls << ", last tick " << after.remoteTickCalls);
	CHECK(after.remoteTickCalls >= 3);
	CHECK(calls <= 2 * perTick + 3);
	CHECK(perTick <= 2 * calls + 3);
	watcher->stop();
	watcher->join();
}

TEST_CASE("with minute-long caches: added, removed, made anew under the same id and re-tagged are found")
{
	SimulatedShare share({.delayUs = 200, .attrTimeout = 60});
	std::string first = share.publish("first:1");
	EventLog log;
	constexpr std::uint32_t kInterval = 300, kVerify = 1500;
	auto watcher = lw::test::unwrap(Watcher::create(
		{.root = share.reader, .intervalMs = kInterval, .verifyPeriodMs = kVerify}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	REQUIRE(watcher->snapshot().image(first));
	const auto deadline = std::chrono::milliseconds(kInterval) + 1s;

	std::size_t mark = log.size();
	std::string second = share.publish("second:1");
	auto start = std::chrono::steady_clock::now();
	REQUIRE(log.waitForEvent(EventType::ImageAdded, second, mark, 5s));
	CHECK(std::chrono::steady_clock::now() - start <= deadline * lw::test::kSlowdown);

	// A re-tag as iSulad writes it: a new images.json renamed over the old one.
	mark = log.size();
	std::string folder = share.server + "/overlay-images/" + first;
	ImageRecord record = lw::test::unwrap(parseImageJson(lw::test::readFile(folder + "/images.json")));
	record.names.push_back("first:latest");
	lw::test::writeFile(folder + "/images.json.tmp", toJson(record));
	REQUIRE(::rename((folder + "/images.json.tmp").c_str(), (folder + "/images.json").c_str()) == 0);
	REQUIRE(log.waitForEvent(EventType::ImageUpdated, first, mark, std::chrono::milliseconds(kVerify) + 3s));
	CHECK(watcher->snapshot().imageByName("first:latest"));

	// The same id made anew, with other content: found by its folder's identity.
	mark = log.size();
	std::string saved = lw::test::readFile(folder + "/manifest");
	std::string config = lw::test::readFile(folder + "/" + bigDataFileName("sha256:" + first));
	lw::test::unwrap(share.writer.removeImage(first));
	record.names = {"first:again"};
	lw::test::makeDirs(folder);
	lw::test::writeFile(folder + "/" + bigDataFileName("sha256:" + first), config);
	lw::test::writeFile(folder + "/images.json", toJson(record));
	lw::test::writeFile(folder + "/manifest", saved);
	REQUIRE(log.waitFor([&](const auto &) {
		auto snap = watcher->snapshot();
		return snap.imageByName("first:again") && !snap.imageByName("first:latest");
	}, std::chrono::milliseconds(kVerify) + 3s));

	// Removed: found, and only once a look by name agreed.
	mark = log.size();
	lw::test::unwrap(share.writer.removeImage(second));
	REQUIRE(log.waitForEvent(EventType::ImageRemoved, second, mark, 5s));
	watcher->stop();
	watcher->join();
}

namespace {

// Publishes an image right after the images tree was listed, from inside the
// listing's own syscall: within the same second as the listing, on a filesystem of
// whole-second timestamps the tree folder's mtime is as the listing saw it.
std::atomic<bool> gPublishArmed{false};
std::function<void()> gPublishNow;
ssize_t (*gRealGetdents)(int, void *, size_t);
ino_t gImagesIno = 0; // the images tree (netsim passes inode numbers through)

ssize_t getdentsThenPublish(int fd, void *buf, size_t count)
{
	ssize_t n = gRealGetdents(fd, buf, count);
	struct stat st;
	if (n == 0 && ::fstat(fd, &st) == 0 && st.st_ino == gImagesIno && gPublishArmed.exchange(false))
		gPublishNow();
	return n;
}

} // namespace

TEST_CASE("a change within the timestamp tick of a listing is not missed (racy timestamps)")
{
	SimulatedShare share({.delayUs = 0, .attrTimeout = 60, .coarseTimes = true});
	std::string image;
	std::string imagesDir = share.server + "/overlay-images";
	struct stat before {};
	REQUIRE(::stat(imagesDir.c_str(), &before) == 0);
	gImagesIno = before.st_ino;
	gPublishNow = [&] {
		::stat(imagesDir.c_str(), &before);
		image = share.publish("racy:1");
	};
	gRealGetdents = sys::ops().getdents64;
	sys::ScopedOp hook(&sys::Ops::getdents64, getdentsThenPublish);
	EventLog log;
	auto watcher = lw::test::unwrap(
		Watcher::create({.root = share.reader, .intervalMs = 200, .verifyPeriodMs = 3600000}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	// Past the racy window of the folders as they are, then one listing more.
	std::this_thread::sleep_for(2500ms);
	// Make the tree change: the ticks list it (it is young again), and at the end of the
	// images tree's next listing the hook publishes. Armed once this thread's own
	// writing is done: the writer is not shared between threads.
	(void)share.publish("trigger:1");
	gPublishArmed = true;
	REQUIRE(lw::test::eventually([&] { return !gPublishArmed.load(); }, 5s));
	struct stat after {};
	::stat(imagesDir.c_str(), &after);
	if (after.st_mtim.tv_sec != before.st_mtim.tv_sec)
		MESSAGE("the second turned between the listing and the change: the rule was not needed this time");
	REQUIRE(log.waitForEvent(EventType::ImageAdded, image, 0, 5s));
	watcher->stop();
	watcher->join();
}

namespace {

// A reader's server fails with EIO, on mount `mount`, the layer's paths or (wholeTree)
// every path; meanwhile the writer takes an image and its
// layer away, makes the layer anew (a new link, new folders) and publishes another
// image on it. The reader keeps the layer's last known state, which is no longer the
// share's: an image taken on it now would have to leave and come back once the layer
// is read. It is held back (told as trouble), and added once, never removed, once
// the fault clears; the layer too leaves and comes back once at most.
void madeAnewWhileUnreadable(std::size_t mount, bool wholeTree)
{
	SimulatedShare share({.delayUs = 200, .attrTimeout = 1});
	std::string layer = lw::test::makeId();
	lw::test::unwrap(share.writer.addLayer({.id = layer, .parent = share.base}));
	std::string first = lw::test::unwrap(share.writer.publishImage({.topLayer = layer, .names = {"app:1"}}));
	EventLog log;
	auto watcher = lw::test::unwrap(Watcher::create({.root = share.reader, .intervalMs = 200}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, 30s));
	REQUIRE(watcher->snapshot().image(first));

	share.mounts[mount]->control("fail " + std::to_string(EIO) + (wholeTree ? "" : " " + layer));
	std::size_t mark = log.size();
	lw::test::unwrap(share.writer.removeImage(first));
	lw::test::unwrap(share.writer.removeLayer(layer));
	lw::test::unwrap(share.writer.addLayer({.id = layer, .parent = share.base}));
	std::string second = lw::test::unwrap(
		share.writer.publishImage({.id = lw::test::makeId(), .topLayer = layer, .names = {"app:2"}}));
	REQUIRE(log.waitForEvent(EventType::ImageRemoved, first, mark, 10s));
	auto heldOrAdded = [&](const std::vector<EventLog::Entry> &all) {
		for (std::size_t i = mark; i < all.size(); ++i)
			if (all[i].event.id == second &&
			    (all[i].event.type == EventType::ImageAdded || all[i].event.type == EventType::Error))
				return true;
		return false;
	};
	REQUIRE(log.waitFor(heldOrAdded, 10s));
	CHECK(EventLog::find(log.entries(), EventType::ImageAdded, second, mark) < 0); // held back, told
	CHECK(EventLog::find(log.entries(), EventType::LayerAdded, layer, mark) < 0);

	share.mounts[mount]->control("clear");
	REQUIRE(log.waitForEvent(EventType::ImageAdded, second, mark, 10s));
	REQUIRE(lw::test::eventually([&] { return watcher->stats().troubled == 0; }, 10s));
	auto all = log.entries();
	CHECK(EventLog::find(all, EventType::ImageRemoved, second, mark) < 0);
	auto added = EventLog::find(all, EventType::ImageAdded, second, mark);
	CHECK(EventLog::find(all, EventType::ImageAdded, second, static_cast<std::size_t>(added) + 1) < 0);
	auto layerAdded = EventLog::find(all, EventType::LayerAdded, layer, mark);
	REQUIRE(layerAdded >= 0);
	CHECK(EventLog::find(all, EventType::LayerAdded, layer, static_cast<std::size_t>(layerAdded) + 1) < 0);
	CHECK(EventLog::find(all, EventType::LayerRemoved, layer, static_cast<std::size_t>(layerAdded) + 1) < 0);
	CHECK(watcher->snapshot().image(second));
	watcher->stop();
	watcher->join();
}

} // namespace

TEST_CASE("an image on a layer made anew whose new folder cannot be read yet waits for it: no removal the writer never made")
{
	madeAnewWhileUnreadable(0, false); // the layer's overlay folder
}

TEST_CASE("while a layer tree cannot be read, a layer made anew and an image on it wait for it: no removal the writer never made")
{
	madeAnewWhileUnreadable(1, true); // all of overlay-layers/RO
}

TEST_CASE("a layer tree failing again and again while the writer works: the reader converges to the share")
{
	SimulatedShare share({.delayUs = 200, .attrTimeout = 1});
	std::vector<std::string> images;
	for (int i = 0; i < 5; ++i)
		images.push_back(share.publish("app:" + std::to_string(i)));
	EventLog log;
	auto watcher = lw::test::unwrap(Watcher::create({.root = share.reader, .intervalMs = 200}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, 30s));
	// Twenty times: one of the two layer trees fails whole (each path, its listing
	// too) for 0.2-0.8 s while the writer publishes or removes an image.
	std::mt19937 random(7);
	for (int round = 0; round < 20; ++round) {
		auto &mount = *share.mounts[random() % 2];
		mount.control("fail " + std::to_string(random() % 2 ? EIO : ESTALE));
		if (random() % 2 && !images.empty()) {
			lw::test::unwrap(share.writer.removeImage(images.front()));
			images.erase(images.begin());
		} else {
			images.push_back(share.publish("app:r" + std::to_string(round)));
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(200 + random() % 600));
		mount.control("clear");
		std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
	}
	// Within the longest backoff (30 s) and a tick.
	auto want = lw::test::unwrap(lw::scanStore(share.server));
	auto ids = [](const auto &items, auto idOf) {
		std::set<std::string> out;
		for (const auto &item : items)
			out.insert(idOf(item));
		return out;
	};
	auto wantImages = ids(want.images, [](const ScannedImage &i) { return i.image->id; });
	auto wantLayers = ids(want.layers, [](const LayerPtr &l) { return l->id; });
	auto converged = [&] {
		auto snap = watcher->snapshot();
		return ids(snap.images(), [](const ImagePtr &i) { return i->id; }) == wantImages &&
		       ids(snap.layers(), [](const LayerPtr &l) { return l->id; }) == wantLayers;
	};
	REQUIRE(lw::test::eventually(converged, 35s));
	CHECK(lw::test::eventually([&] { return watcher->stats().troubled == 0; }, 5s));
	watcher->stop();
	watcher->join();
}

// A share whose server stops answering (its FUSE server stopped with SIGSTOP), or is
// unmounted for a moment: the host's loop never waits on it, stop() and SIGTERM are
// answered at once, nothing is taken for removed, and all is found once it is back.
#include "bindfs_mount.h"
#include "child_process.h"
#include "event_log.h"
#include "netsim_mount.h"
#include "test_support.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <signal.h>
#include <uv.h>

#include <memory>

using namespace lw;
using lw::test::BindfsMount;
using lw::test::EventLog;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A store written underneath, and the reader's view of its three trees through bindfs.
struct Share {
	lw::test::TempDir tmp;
	std::string server = tmp / "server", reader = tmp / "reader";
	StoreWriter writer = lw::test::unwrap(StoreWriter::open(server, {.durable = false, .makeLinks = false}));
	std::vector<std::unique_ptr<BindfsMount>> mounts;
	std::string base = lw::test::makeId(), image;

	Share()
	{
		lw::test::unwrap(writer.addLayer({.id = base}));
		image = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));
		for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"}) {
			mounts.push_back(std::make_unique<BindfsMount>(server + "/" + tree, reader + "/" + tree));
			if (!mounts.back()->mounted())
				lw::test::skipTest("bindfs could not mount");
		}
	}
	~Share() { mounts.clear(); } // before tmp goes
	// A new image on a new layer, written underneath.
	std::string publish(const std::string &name)
	{
		std::string layer = lw::test::makeId();
		lw::test::unwrap(writer.addLayer({.id = layer, .parent = base}));
		return lw::test::unwrap(writer.publishImage({.topLayer = layer, .names = {name}}));
	}
	void freeze()
	{
		for (auto &m : mounts)
			m->freeze();
	}
	void thaw()
	{
		for (auto &m : mounts)
			m->thaw();
	}
};

// The host's own work: a 10 ms timer whose longest gap says how long the loop was held.
struct HostTimer {
	uv_timer_t timer;
	Clock::time_point last = Clock::now();
	Clock::duration longest{};
	explicit HostTimer(uv_loop_t *loop)
	{
		uv_timer_init(loop, &timer);
		timer.data = this;
		uv_timer_start(&timer, [](uv_timer_t *t) {
			auto *self = static_cast<HostTimer *>(t->data);
			auto now = Clock::now();
			self->longest = std::max(self->longest, now - self->last);
			self->last = now;
		}, 10, 10);
	}
	void reset()
	{
		last = Clock::now();
		longest = {};
	}
	void close() { uv_close(reinterpret_cast<uv_handle_t *>(&timer), nullptr); }
};

bool runUntil(uv_loop_t *loop, const std::function<bool()> &cond, std::chrono::milliseconds timeout)
{
	auto deadline = Clock::now() + timeout;
	while (!cond() && Clock::now() < deadline)
		uv_run(loop, UV_RUN_ONCE);
	return cond();
}

long removals(const std::vector<EventLog::Entry> &all)
{
	return std::count_if(all.begin(), all.end(), [](const EventLog::Entry &e) {
		return e.event.type == EventType::ImageRemoved || e.event.type == EventType::LayerRemoved;
	});
}

bool stallTold(const std::vector<EventLog::Entry> &all)
{
	return std::any_of(all.begin(), all.end(), [](const EventLog::Entry &e) {
		return e.event.type == EventType::Error && e.event.code == ETIMEDOUT &&
		       e.event.message.find("stalled") != std::string::npos;
	});
}

} // namespace

TEST_CASE("a server that stops answering never holds the host's loop, nor stop()")
{
	Share share;
	uv_loop_t loop;
	REQUIRE(uv_loop_init(&loop) == 0);
	HostTimer host(&loop);
	EventLog log;
	auto watcher = lw::test::unwrap(Watcher::create(
		{.root = share.reader, .intervalMs = 100, .stallMs = 800, .retryMs = 100}, log.sink()));
	lw::test::unwrap(watcher->attach(&loop));
	REQUIRE(runUntil(&loop, [&] { return EventLog::find(log.entries(), EventType::Ready, {}) >= 0; }, 10s));
	REQUIRE(watcher->snapshot().image(share.image));

	share.freeze();
	host.reset();
	REQUIRE(runUntil(&loop, [&] { return stallTold(log.entries()); }, 5s));
	runUntil(&loop, [] { return false; }, 500ms); // and the loop keeps turning
	MESSAGE("longest gap of the host's 10 ms timer while stalled: "
		<< std::chrono::duration<double, std::milli>(host.longest).count() << " ms");
	CHECK(host.longest < 100ms * lw::test::kSlowdown);
	CHECK(watcher->snapshot().image(share.image)); // served from memory
	CHECK(watcher->stats().stalled > 0);

	// Answering again: rescanned, and what came meanwhile is found.
	std::size_t mark = log.size();
	share.thaw();
	std::string second = share.publish("after:1");
	REQUIRE(runUntil(&loop, [&] { return EventLog::find(log.entries(), EventType::ImageAdded, second, mark) >= 0; }, 10s));
	CHECK(EventLog::find(log.entries(), EventType::Resync, {}, mark) >= 0);

	// Stopped while a read is stuck in the kernel: the loop closes at once.
	share.freeze();
	runUntil(&loop, [] { return false; }, 300ms);
	auto stopAt = Clock::now();
	watcher->stop();
	host.close();
	REQUIRE(runUntil(&loop, [&] { return watcher->closed(); }, 2s));
	CHECK(Clock::now() - stopAt < 1s * lw::test::kSlowdown);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(uv_loop_close(&loop) == 0);
	watcher.reset(); // while its worker is still stuck: it owns nothing of ours
	share.thaw();
	CHECK(removals(log.entries()) == 0);
}

TEST_CASE("layerwatch watch exits on SIGTERM while its server is stopped, during the load too")
{
	Share share;
	auto waitForLine = [](lw::test::ChildProcess &child, const std::string &needle) {
		std::string line;
		while (child.readLine(line, 10s * lw::test::kSlowdown))
			if (line.find(needle) != std::string::npos)
				return true;
		return false;
	};
	{
		lw::test::ChildProcess watch({LAYERWATCH, "watch", "--json", "--interval", "100", "--root", share.reader});
		REQUIRE(waitForLine(watch, "\"event\":\"ready\""));
		share.freeze();
		std::this_thread::sleep_for(300ms); // a rescan is now stuck in the kernel
		auto sent = Clock::now();
		::kill(watch.pid(), SIGTERM);
		CHECK(waitForLine(watch, "\"event\":\"stopped\""));
		CHECK(watch.wait(2s * lw::test::kSlowdown) == 0);
		CHECK(Clock::now() - sent < 2s * lw::test::kSlowdown);
		share.thaw();
	}
	{
		share.freeze(); // the initial load itself cannot get an answer
		lw::test::ChildProcess watch({LAYERWATCH, "watch", "--json", "--interval", "100", "--root", share.reader});
		std::this_thread::sleep_for(300ms);
		auto sent = Clock::now();
		::kill(watch.pid(), SIGTERM);
		CHECK(waitForLine(watch, "\"event\":\"stopped\""));
		CHECK(watch.wait(1s * lw::test::kSlowdown) == 0);
		CHECK(Clock::now() - sent < 1s * lw::test::kSlowdown);
		share.thaw();
	}
}

TEST_CASE("a tree whose server stalls from the start holds back neither the local trees nor ready")
{
	if (lw::test::netsimPath().empty())
		lw::test::skipTest("netsim was not built (no libfuse3)");
	// The layers on this host's disk; the images on a server that answers listings but
	// no manifest read (a server stuck on the files' data, not its folders).
	lw::test::TempDir tmp;
	std::string root = tmp / "root", exported = tmp / "images-server";
	std::string base = lw::test::makeId(), app = lw::test::makeId(), image;
	{
		auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
		lw::test::unwrap(writer.addLayer({.id = base}));
		lw::test::unwrap(writer.addLayer({.id = app, .parent = base}));
		image = lw::test::unwrap(writer.publishImage({.topLayer = app, .names = {"app:1"}}));
	}
	REQUIRE(::rename((root + "/overlay-images").c_str(), exported.c_str()) == 0);
	lw::test::makeDirs(root + "/overlay-images");
	lw::test::NetsimMount images(exported, root + "/overlay-images", {.delayUs = 0});
	if (!images.mounted())
		lw::test::skipTest("netsim could not mount (FUSE)");
	images.control("stall manifest");

	constexpr auto kStall = 1500ms;
	EventLog log;
	auto watcher = lw::test::unwrap(Watcher::create(
		{.root = root, .intervalMs = 200, .stallMs = kStall.count(), .retryMs = 100}, log.sink()));
	auto started = Clock::now();
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, kStall + 3s * lw::test::kSlowdown));
	auto readyAfter = Clock::now() - started;
	MESSAGE("ready after " << std::chrono::duration<double, std::milli>(readyAfter).count() << " ms");
	CHECK(readyAfter < kStall + 2s * lw::test::kSlowdown);
	auto all = log.entries();
	long ready = EventLog::find(all, EventType::Ready, {});
	CHECK(all[ready].event.stalled == std::vector<TreeId>{TreeId::Images});
	CHECK(all[ready].event.layerCount == 2);
	// The local trees were read and told before it, and only the stalled tree is
	// said to be stalled.
	CHECK(EventLog::find(all, EventType::LayerAdded, app) >= 0);
	CHECK(EventLog::find(all, EventType::LayerAdded, app) < ready);
	for (const auto &e : all)
		if (e.event.type == EventType::Error && e.event.code == ETIMEDOUT)
			CHECK(e.event.tree == TreeId::Images);
	CHECK(watcher->snapshot().imageCount() == 0);

	// The server answers: the image follows.
	images.control("clear");
	REQUIRE(log.waitForEvent(EventType::ImageAdded, image, 0, 5s * lw::test::kSlowdown));
	CHECK(removals(log.entries()) == 0);
	watcher->stop();
	watcher->join();
}

TEST_CASE("a share unmounted for a moment is not an empty share")
{
	Share share;
	EventLog log;
	auto watcher = lw::test::unwrap(
		Watcher::create({.root = share.reader, .intervalMs = 100, .retryMs = 100}, log.sink()));
	lw::test::unwrap(watcher->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	REQUIRE(watcher->snapshot().image(share.image));

	share.mounts[2]->unmount(); // overlay-images: a bare, empty mountpoint now
	REQUIRE(log.waitFor([](const auto &all) {
		return std::any_of(all.begin(), all.end(), [](const EventLog::Entry &e) {
			return e.event.type == EventType::Error && e.event.tree == TreeId::Images && e.event.code == ESTALE;
		});
	}, 5s));
	CHECK(watcher->snapshot().image(share.image));
	CHECK(lw::test::readLinkAt(share.reader + "/overlay/" + share.base) == "RO/" + share.base);

	REQUIRE(share.mounts[2]->mount());
	REQUIRE(lw::test::eventually([&] { return watcher->stats().troubled == 0; }, 5s));
	std::string second = share.publish("after:1");
	REQUIRE(log.waitForEvent(EventType::ImageAdded, second, 0, 5s));
	CHECK(removals(log.entries()) == 0);
	watcher->stop();
	watcher->join();
}

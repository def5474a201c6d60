// Every moment of the lifecycle, from any thread: stop before, during and after a
// start, start twice, destroy early, destroy from a callback (the Stopped one too),
// destroy from another thread while the host's loop runs; and the C API's the same.
// Run under ASan and TSan by CI: a use after free or a race fails there.
#include "event_log.h"
#include "test_support.h"

#include <layerwatch/layerwatch.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <uv.h>

#include <atomic>
#include <cstring>
#include <thread>

using namespace lw;
using lw::test::EventLog;
using namespace std::chrono_literals;

namespace {


// The tick that keeps a host loop turning in runUntil, not counted as a handle.
char tickMark;

// Runs a host loop until cond holds or the deadline passes.
bool runUntil(uv_loop_t *loop, const std::function<bool()> &cond, std::chrono::milliseconds timeout = 10s)
{
	auto deadline = std::chrono::steady_clock::now() + timeout;
	uv_timer_t tick; // keeps the loop turning while workers read
	uv_timer_init(loop, &tick);
	tick.data = &tickMark;
	uv_timer_start(&tick, [](uv_timer_t *) {}, 5, 5);
	while (!cond() && std::chrono::steady_clock::now() < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close(reinterpret_cast<uv_handle_t *>(&tick), nullptr);
	uv_run(loop, UV_RUN_NOWAIT);
	return cond();
}

int handlesOn(uv_loop_t *loop)
{
	int n = 0;
	uv_walk(loop, [](uv_handle_t *h, void *arg) { *static_cast<int *>(arg) += h->data != &tickMark; }, &n);
	return n;
}

} // namespace

TEST_CASE("stop before start: the start is refused, nothing runs")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	EventLog log;
	auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
	w->stop();
	w->stop();
	auto started = w->start();
	REQUIRE_FALSE(started.ok());
	CHECK(started.error().code == ECANCELED);
	CHECK(log.size() == 0);
}

TEST_CASE("start twice, attach after start: EALREADY")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	EventLog log;
	auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
	lw::test::unwrap(w->start());
	auto again = w->start();
	REQUIRE_FALSE(again.ok());
	CHECK(again.error().code == EALREADY);
	uv_loop_t loop;
	uv_loop_init(&loop);
	CHECK(w->attach(&loop).error().code == EALREADY);
	CHECK(uv_loop_close(&loop) == 0);
	REQUIRE(log.waitForEvent(EventType::Ready));
	w->stop();
	w->stop();
	w->join();
	CHECK(w->closed());
}

TEST_CASE("stop from another thread right after start, and racing the start")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	for (int round = 0; round < 20; ++round) {
		EventLog log;
		auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
		if (round % 2 == 0) {
			lw::test::unwrap(w->start());
			std::thread([&] { w->stop(); }).join();
			w->join();
			CHECK(w->closed());
			CHECK(log.entries().back().event.type == EventType::Stopped);
			CHECK(log.entries().back().event.source == EventSource::Stop);
		} else {
			std::thread stopper([&] { w->stop(); });
			auto started = w->start();
			stopper.join();
			if (started.ok()) {
				w->stop();
				w->join();
				CHECK(w->closed());
			} else {
				CHECK(started.error().code == ECANCELED);
			}
		}
	}
}

TEST_CASE("stats() from another thread while the watcher starts and stops (TSan: no race on its reads count)")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	for (int round = 0; round < 10; ++round) {
		EventLog log;
		auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
		std::atomic<bool> done{false};
		std::uint64_t mostInFlight = 0;
		std::thread reader([&] {
			while (!done)
				mostInFlight = std::max(mostInFlight, w->stats().readsInFlight);
		});
		lw::test::unwrap(w->start());
		REQUIRE(log.waitForEvent(EventType::Ready, {}, 0, 10s * lw::test::kSlowdown));
		w->stop();
		w->join();
		done = true;
		reader.join();
		// A count of reads, never a wrapped difference of two counts.
		CHECK(mostInFlight < 1000);
		CHECK(lw::test::eventually([&] { return w->stats().readsInFlight == 0; }, 5s));
	}
}

TEST_CASE("destroyed without stop, on its own thread or attached to a host's loop")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	{
		EventLog log;
		auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
		lw::test::unwrap(w->start());
		REQUIRE(log.waitForEvent(EventType::Ready));
	} // stops and joins
	uv_loop_t loop;
	REQUIRE(uv_loop_init(&loop) == 0);
	std::atomic<int> calls{0};
	auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, [&](const Event &) { ++calls; }));
	lw::test::unwrap(w->attach(&loop));
	w.reset(); // handles still open: it frees itself after the last close, calling nothing
	CHECK(runUntil(&loop, [&] { return handlesOn(&loop) == 0; }));
	CHECK(calls == 0);
	CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("the host destroys the watcher from its Stopped callback, or any other")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	SUBCASE("attached, from Stopped")
	{
		uv_loop_t loop;
		REQUIRE(uv_loop_init(&loop) == 0);
		Watcher *raw = nullptr;
		bool stopped = false;
		auto created = Watcher::create({.root = root, .mode = lw::test::watchMode()}, [&](const Event &e) {
			if (e.type == EventType::Ready)
				raw->stop();
			if (e.type == EventType::Stopped) {
				stopped = true;
				delete raw;
			}
		});
		raw = lw::test::unwrap(std::move(created)).release();
		lw::test::unwrap(raw->attach(&loop));
		CHECK(runUntil(&loop, [&] { return stopped && handlesOn(&loop) == 0; }));
		CHECK(uv_loop_close(&loop) == 0);
	}
	SUBCASE("own thread, from Stopped")
	{
		std::atomic<bool> gone{false};
		Watcher *raw = nullptr;
		auto created = Watcher::create({.root = root, .mode = lw::test::watchMode()}, [&](const Event &e) {
			if (e.type == EventType::Ready)
				raw->stop();
			if (e.type == EventType::Stopped) {
				delete raw;
				gone = true;
			}
		});
		raw = lw::test::unwrap(std::move(created)).release();
		lw::test::unwrap(raw->start());
		CHECK(lw::test::eventually([&] { return gone.load(); }, 10s));
	}
	SUBCASE("own thread, from Ready, while running")
	{
		std::atomic<bool> gone{false};
		Watcher *raw = nullptr;
		auto created = Watcher::create({.root = root, .mode = lw::test::watchMode()}, [&](const Event &e) {
			if (e.type == EventType::Ready) {
				delete raw;
				gone = true;
			}
		});
		raw = lw::test::unwrap(std::move(created)).release();
		lw::test::unwrap(raw->start());
		CHECK(lw::test::eventually([&] { return gone.load(); }, 10s));
	}
}

TEST_CASE("destroyed from another thread while the host's loop runs")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	uv_loop_t loop;
	REQUIRE(uv_loop_init(&loop) == 0);
	EventLog log;
	auto w = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
	lw::test::unwrap(w->attach(&loop));
	std::atomic<bool> destroyed{false};
	std::thread destroyer([&] {
		REQUIRE(log.waitForEvent(EventType::Ready));
		w.reset();
		destroyed = true;
	});
	CHECK(runUntil(&loop, [&] { return destroyed && handlesOn(&loop) == 0; }));
	destroyer.join();
	CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("the C API: lw_start twice, lw_stop from a second thread right after lw_start, lw_destroy without stop")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	lw_options options;
	lw_options_init(&options);
	options.root = root.c_str();
	lw_watcher *w = nullptr;
	REQUIRE(lw_create(&options, &w) == 0);
	CHECK(lw_start(w) == 0);
	CHECK(lw_start(w) == -EALREADY);
	std::thread([&] { CHECK(lw_stop(w) == 0); }).join();
	CHECK(lw_join(w) == 0);
	CHECK(lw_is_closed(w) == 1);
	lw_destroy(w);

	REQUIRE(lw_create(&options, &w) == 0);
	CHECK(lw_start(w) == 0);
	lw_destroy(w); // stops, joins, frees

	lw_options bad = options;
	int outOfRange = 99;
	std::memcpy(&bad.mode, &outOfRange, sizeof outOfRange);
	CHECK(lw_create(&bad, &w) == -EINVAL);
}

// The loop binding on its own, with an engine of one timer on a real libuv loop: every
// moment of the lifecycle (stop before start, twice, from another thread, let go from
// the last callback or while the loop runs, a start that fails half way).
#include "loop_binding.h"
#include "test_support.h"

#include <atomic>
#include <thread>

using namespace lw;
using namespace std::chrono_literals;

namespace {

std::atomic<int> enginesAlive{0};

// An engine of one timer (and a second one made as the stop comes, if asked). Each
// step counted; the host's word in its last callback is `inClosed`.
struct TimerEngine {
	uv_timer_t timer{}, late{};
	std::atomic<int> opened{0}, stoppings{0}, closings{0}, freedByBinding{0};
	bool failOpen = false, stopInOpen = false, adoptWhileStopping = false;
	std::function<void(TimerEngine &)> inClosed;
	LoopBinding binding{{
		.open = [this](uv_loop_t *loop) -> Result<void> {
			++opened;
			if (int r = binding.adopt(&timer, uv_timer_init(loop, &timer)); r < 0)
				return makeError(-r, "timer");
			if (stopInOpen)
				binding.stop(); // as another thread's stop() would come, mid-start
			if (failOpen)
				return makeError(EIO, "open failed after its timer");
			return {};
		},
		.stopping = [this] {
			++stoppings;
			if (adoptWhileStopping)
				binding.adopt(&late, uv_timer_init(binding.loop(), &late));
		},
		.closed = [this] {
			++closings;
			if (inClosed)
				inClosed(*this);
		},
		.free = [this] {
			++freedByBinding;
			delete this;
		},
	}};
	TimerEngine() { ++enginesAlive; }
	~TimerEngine() { --enginesAlive; }
};

struct HostLoop {
	uv_loop_t loop{};
	HostLoop() { REQUIRE(uv_loop_init(&loop) == 0); }
	~HostLoop() { CHECK(uv_loop_close(&loop) == 0); } // nothing of the engine's left on it
	void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

} // namespace

TEST_CASE("stop before start: attach and start are refused, nothing is made, the owner frees")
{
	HostLoop host;
	auto *e = new TimerEngine;
	e->binding.stop();
	CHECK(e->binding.attach(&host.loop).error().code == ECANCELED);
	CHECK(e->binding.start("lw-test").error().code == ECANCELED);
	CHECK(e->opened == 0);
	CHECK_FALSE(uv_loop_alive(&host.loop));
	CHECK(e->binding.release());
	delete e;
}

TEST_CASE("attach twice, start after attach: EALREADY; stop twice: one close, one last word")
{
	HostLoop host;
	auto *e = new TimerEngine;
	lw::test::unwrap(e->binding.attach(&host.loop));
	CHECK(e->binding.attach(&host.loop).error().code == EALREADY);
	CHECK(e->binding.start("lw-test").error().code == EALREADY);
	CHECK(e->binding.running());
	e->binding.stop();
	e->binding.stop();
	host.run();
	CHECK(e->stoppings == 1);
	CHECK(e->closings == 1);
	CHECK(e->binding.closed());
	CHECK(e->binding.release()); // closed: the owner frees now
	delete e;
}

TEST_CASE("the owner lets go from the last callback on a host's loop: the binding frees, once")
{
	HostLoop host;
	auto *e = new TimerEngine;
	bool releasedNow = true;
	e->inClosed = [&](TimerEngine &self) { releasedNow = self.binding.release(); };
	lw::test::unwrap(e->binding.attach(&host.loop));
	e->binding.stop();
	int before = enginesAlive;
	host.run();
	CHECK_FALSE(releasedNow);
	CHECK(enginesAlive == before - 1); // freed by the binding after the callback
}

TEST_CASE("the owner lets go while the host's loop runs: it stops, and the binding frees after the last close")
{
	HostLoop host;
	auto *e = new TimerEngine;
	lw::test::unwrap(e->binding.attach(&host.loop));
	int before = enginesAlive;
	CHECK_FALSE(e->binding.release());
	CHECK(enginesAlive == before); // not before its handles closed
	host.run();
	CHECK(enginesAlive == before - 1);
}

TEST_CASE("a loop of its own: stop from another thread right after start, again and again")
{
	for (int i = 0; i < 50; ++i) {
		auto *e = new TimerEngine;
		lw::test::unwrap(e->binding.start("lw-test"));
		std::thread([e] { e->binding.stop(); }).join();
		lw::test::unwrap(e->binding.join());
		CHECK(e->closings == 1);
		CHECK(e->binding.closed());
		CHECK(e->binding.release());
		delete e;
	}
}

TEST_CASE("a loop of its own: let go from another thread while it runs, or from its own last callback")
{
	SUBCASE("another thread: stopped and joined, the owner frees")
	{
		auto *e = new TimerEngine;
		lw::test::unwrap(e->binding.start("lw-test"));
		CHECK(e->binding.release());
		CHECK(e->closings == 1);
		delete e;
	}
	SUBCASE("its own callback: the thread frees once its loop closed")
	{
		int before = enginesAlive;
		auto *e = new TimerEngine;
		std::atomic<bool> releasedNow{true};
		e->inClosed = [&](TimerEngine &self) { releasedNow = self.binding.release(); };
		lw::test::unwrap(e->binding.start("lw-test"));
		e->binding.stop();
		REQUIRE(lw::test::eventually([&] { return enginesAlive == before; }, 5s));
		CHECK_FALSE(releasedNow);
	}
}

TEST_CASE("a start that fails half way: what was made closes, the error is returned, a start may come again")
{
	SUBCASE("on a host's loop")
	{
		HostLoop host;
		auto *e = new TimerEngine;
		e->failOpen = true;
		CHECK(e->binding.attach(&host.loop).error().code == EIO);
		host.run(); // the timer and the stop's wake-up close
		CHECK(e->closings == 1);
		CHECK(e->binding.closed());
		CHECK(e->binding.release());
		delete e;
	}
	SUBCASE("on a loop of its own")
	{
		auto *e = new TimerEngine;
		e->failOpen = true;
		CHECK(e->binding.start("lw-test").error().code == EIO);
		CHECK(e->closings == 1);
		CHECK(e->binding.state() == LoopBinding::State::Idle);
		e->failOpen = false;
		lw::test::unwrap(e->binding.start("lw-test"));
		CHECK(e->binding.release());
		CHECK(e->closings == 2);
		delete e;
	}
}

TEST_CASE("a stop that comes while a start fails is kept: the next start is refused")
{
	auto *e = new TimerEngine;
	e->failOpen = true;
	e->stopInOpen = true;
	CHECK(e->binding.start("lw-test").error().code == EIO);
	e->failOpen = e->stopInOpen = false;
	CHECK(e->binding.start("lw-test").error().code == ECANCELED);
	CHECK(e->opened == 1);
	CHECK(e->binding.release());
	delete e;
}

TEST_CASE("a handle made as the stop comes (in Engine::stopping) closes with the others: the last word waits for it")
{
	HostLoop host;
	auto *e = new TimerEngine;
	e->adoptWhileStopping = true;
	lw::test::unwrap(e->binding.attach(&host.loop));
	e->binding.stop();
	host.run();
	CHECK(e->closings == 1);
	CHECK(uv_is_closing(reinterpret_cast<uv_handle_t *>(&e->late)));
	CHECK(e->binding.release());
	delete e;
}

// The executor on its own: work runs on workers, completions on the caller's thread,
// and its counts stay true through a shutdown.
#include "executor.h"
#include "test_support.h"

#include <atomic>
#include <thread>

using namespace lw;
using namespace std::chrono_literals;

TEST_CASE("after a shutdown the workers end and nothing counts as busy (no wrap of threads - idle)")
{
	std::atomic<int> woken{0};
	Executor executor(4, [&] { ++woken; });
	std::atomic<int> ran{0};
	bool completed = false;
	for (int i = 0; i < 3; ++i)
		lw::test::unwrap(executor.post([&] {
			++ran;
			return Executor::Completion([&] { completed = true; });
		}));
	REQUIRE(lw::test::eventually([&] { return ran == 3 && executor.busy() == 0; }, 5s));
	executor.runCompletions();
	CHECK(completed);
	CHECK(executor.threads() >= 1);
	executor.shutdown();
	REQUIRE(lw::test::eventually([&] { return executor.threads() == 0; }, 5s));
	CHECK(executor.busy() == 0);
	CHECK(executor.post([] { return Executor::Completion(); }).error().code == ECANCELED);
}

TEST_CASE("a read stuck at shutdown still counts as busy until it returns, then its result is dropped")
{
	Executor executor(2, [] {});
	std::atomic<bool> release{false}, started{false}, completed{false};
	lw::test::unwrap(executor.post([&] {
		started = true;
		while (!release)
			std::this_thread::sleep_for(1ms);
		return Executor::Completion([&] { completed = true; });
	}));
	REQUIRE(lw::test::eventually([&] { return started.load(); }, 5s));
	executor.shutdown();
	CHECK(executor.busy() == 1);
	release = true;
	REQUIRE(lw::test::eventually([&] { return executor.threads() == 0; }, 5s));
	CHECK(executor.busy() == 0);
	executor.runCompletions();
	CHECK_FALSE(completed);
}

// `layerwatch watch` short of file descriptors (ulimit -n): it never spins, never
// aborts, says what is wrong, and recovers once fds come back (prlimit raises the
// running process's limit, as freeing fds in a host would).
#include "child_process.h"
#include "test_support.h"

#include <layerwatch/writer.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

using namespace lw;
using namespace std::chrono_literals;

namespace {

// CPU time (user + system) of a process so far, in clock ticks.
long cpuTicks(pid_t pid)
{
	std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
	std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	auto close = text.rfind(')');
	if (close == std::string::npos)
		return -1;
	std::istringstream fields(text.substr(close + 2));
	std::string skip;
	for (int i = 0; i < 11; ++i) // state ... cmajflt: fields 3 to 13
		fields >> skip;
	long utime = 0, stime = 0;
	fields >> utime >> stime;
	return utime + stime;
}

struct Watch {
	lw::test::ChildProcess child;
	Watch(int fdLimit, const std::string &root)
		: child({"/bin/sh", "-c",
			 "ulimit -Sn " + std::to_string(fdLimit) + " && exec " LAYERWATCH " watch --json --interval 100 --root " +
				 root})
	{
	}
	// The next line containing needle, within the deadline.
	bool waitFor(const std::string &needle, std::chrono::milliseconds timeout = 5s)
	{
		auto deadline = std::chrono::steady_clock::now() + timeout;
		std::string line;
		while (std::chrono::steady_clock::now() < deadline) {
			auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
			if (!child.readLine(line, left))
				return false;
			if (line.find(needle) != std::string::npos)
				return true;
		}
		return false;
	}
};


} // namespace

TEST_CASE("too few fds to make a loop: a clear error and exit 1, never an abort")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	for (int limit : {8, 9}) {
		CAPTURE(limit);
		lw::test::ChildProcess child({"/bin/sh", "-c",
					      "exec 2>&1; ulimit -Sn " + std::to_string(limit) + " && exec " LAYERWATCH
					      " watch --json --root " + root});
		std::string line;
		REQUIRE(child.readLine(line, 5s));
		CHECK(line.find("Too many open files") != std::string::npos);
		CHECK(child.wait(5s) == 1);
	}
}

TEST_CASE("short of fds: errors, no spin, and the store once fds come back")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	for (int limit : {10, 12}) {
		CAPTURE(limit);
		Watch watch(limit, root);
		REQUIRE(watch.waitFor("\"errno\":\"EMFILE\""));
		REQUIRE(watch.waitFor("\"event\":\"ready\""));
		// Idle in trouble: retries back off, the loop sleeps.
		long before = cpuTicks(watch.child.pid());
		std::this_thread::sleep_for(1s);
		long spent = cpuTicks(watch.child.pid()) - before;
		CHECK(spent >= 0);
		// Under 20 % of a core (each retry costs more under sanitizers: there, under
		// half of one; a spinning loop takes all of it).
		long second = ::sysconf(_SC_CLK_TCK);
		CHECK(spent < std::min(second / 5 * lw::test::kSlowdown, second / 2));
		// fds come back: what could not be read is read.
		struct rlimit more = {1024, RLIM_INFINITY};
		REQUIRE(::prlimit(watch.child.pid(), RLIMIT_NOFILE, nullptr, &more) == 0);
		more.rlim_cur = std::min<rlim_t>(1024, more.rlim_max);
		REQUIRE(::prlimit(watch.child.pid(), RLIMIT_NOFILE, &more, nullptr) == 0);
		CHECK(watch.waitFor("\"event\":\"image_added\"", 10s));
		::kill(watch.child.pid(), SIGTERM);
		CHECK(watch.waitFor("\"event\":\"stopped\""));
		CHECK(watch.child.wait(5s) == 0);
	}
}

TEST_CASE("enough fds (ulimit -n 16): the whole store at once")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	Watch watch(16, root);
	REQUIRE(watch.waitFor("\"event\":\"ready\""));
	::kill(watch.child.pid(), SIGTERM);
	CHECK(watch.child.wait(5s) == 0);
}

// layerwatch as iSulad's remote-layer module: a fake iSulad (fake_isulad.c, a C99
// host of the drop-in) follows stores written by layerwatch's writer, on a local
// folder and behind the network simulator, and checks in its hooks what iSulad relies
// on (order, its lock). This test reads what the fake saw.
#include "child_process.h"
#include "netsim_mount.h"
#include "test_support.h"

#include <layerwatch/writer.h>

#include <array>
#include <map>
#include <memory>
#include <set>
#include <signal.h>
#include <sstream>

using namespace lw;
using lw::test::ChildProcess;
using namespace std::chrono_literals;

namespace {

constexpr std::array<const char *, 3> kTrees = {"overlay/RO", "overlay-layers/RO", "overlay-images"};

// What the fake iSulad's stores hold, from its lines.
class FakeIsulad {
public:
	explicit FakeIsulad(const std::string &root) : process_({FAKE_ISULAD, root})
	{
		std::string line;
		REQUIRE(process_.readLine(line, 10s));
		REQUIRE(line.rfind("started", 0) == 0);
	}

	// Reads lines until pred holds over the stores, or the deadline passes.
	bool waitFor(const std::function<bool()> &pred, std::chrono::milliseconds timeout)
	{
		auto deadline = std::chrono::steady_clock::now() + timeout;
		while (!pred()) {
			auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
			std::string line;
			if (left <= 0ms || !process_.readLine(line, left))
				return false;
			take(line);
		}
		return true;
	}

	// SIGTERM: the fake cleans up and says its figures.
	void stop()
	{
		::kill(process_.pid(), SIGTERM);
		std::string line;
		while (process_.readLine(line, 10s))
			take(line);
		CHECK(process_.wait(10s) == 0);
	}

	pid_t pid() const { return process_.pid(); }

	std::set<std::string> layers, images;
	std::vector<std::string> violations, failed;
	std::map<std::string, int> calls; // "load_layer <id>" -> times
	long maxReadWaitUs = -1, violationCount = -1;

private:
	void take(const std::string &line)
	{
		std::istringstream in(line);
		std::string what, id;
		in >> what >> id;
		if (what == "load_layer")
			layers.insert(id);
		else if (what == "remove_layer")
			layers.erase(id);
		else if (what == "append_image")
			images.insert(id);
		else if (what == "remove_image")
			images.erase(id);
		else if (what == "violation")
			violations.push_back(line);
		else if (what == "failed")
			failed.push_back(line);
		else if (what == "max_read_wait_us")
			maxReadWaitUs = std::stol(id);
		else if (what == "violations")
			violationCount = std::stol(id);
		++calls[what + " " + id];
	}

	ChildProcess process_;
};

// Pulls n images over a shared base chain; returns their ids and top layers.
std::vector<std::pair<std::string, std::string>> pull(StoreWriter &writer, const std::vector<std::string> &bases, int n,
						       const std::string &tag)
{
	std::vector<std::pair<std::string, std::string>> out;
	for (int i = 0; i < n; ++i) {
		std::string top = lw::test::makeId();
		lw::test::unwrap(writer.addLayer({.id = top, .parent = bases.back()}));
		std::string image = lw::test::unwrap(
			writer.publishImage({.topLayer = top, .names = {tag + ":" + std::to_string(i)}}));
		out.emplace_back(image, top);
	}
	return out;
}

std::vector<std::string> baseChain(StoreWriter &writer, int depth)
{
	std::vector<std::string> chain;
	for (int i = 0; i < depth; ++i) {
		chain.push_back(lw::test::makeId());
		lw::test::unwrap(writer.addLayer({.id = chain.back(), .parent = i ? chain[i - 1] : ""}));
	}
	return chain;
}

// Pulls, then removes half the images and their own layers, behind the fake's back;
// checks that it followed in order, under its lock. Returns the longest wait for
// iSulad's read lock, in µs.
long followPullsAndRemovals(const std::string &server, const std::string &readerRoot, int images,
			    std::chrono::milliseconds deadline)
{
	auto writer = lw::test::unwrap(StoreWriter::open(server, {.durable = false, .makeLinks = false}));
	FakeIsulad isulad(readerRoot);
	auto bases = baseChain(writer, 3);
	auto pulled = pull(writer, bases, images, "app");
	REQUIRE(isulad.waitFor([&] { return isulad.images.size() == pulled.size(); }, deadline));
	CHECK(isulad.layers.size() == bases.size() + pulled.size());

	for (std::size_t i = 0; i < pulled.size(); i += 2) {
		lw::test::unwrap(writer.removeImage(pulled[i].first));
		lw::test::unwrap(writer.removeLayer(pulled[i].second));
	}
	std::size_t left = pulled.size() / 2;
	REQUIRE(isulad.waitFor([&] { return isulad.images.size() == left && isulad.layers.size() == bases.size() + left; },
			       deadline));
	isulad.stop();
	CHECK(isulad.violations.empty());
	for (const auto &v : isulad.violations)
		MESSAGE(v);
	CHECK(isulad.violationCount == 0);
	// No hook called twice for one change (the first load of each layer stands).
	for (const auto &[call, times] : isulad.calls)
		if (call.rfind("load_layer", 0) == 0 || call.rfind("append_image", 0) == 0)
			CHECK_MESSAGE(times == 1, call);
	MESSAGE(images << " images: longest wait for iSulad's read lock " << isulad.maxReadWaitUs << " µs");
	return isulad.maxReadWaitUs;
}

// How many of pid's fds are of this anonymous inode kind ("inotify", "[fanotify]").
int fdsOfKind(pid_t pid, const std::string &kind)
{
	int n = 0;
	std::string dir = "/proc/" + std::to_string(pid) + "/fd";
	for (const auto &[name, what] : lw::test::snapshotTree(dir))
		n += what == "l:anon_inode:" + kind;
	return n;
}

} // namespace

TEST_CASE("LAYERWATCH_MODE chooses iSulad's kernel source; a value it does not know fails the start")
{
	lw::test::TempDir tmp;
	lw::test::storeWithOneImage(tmp / "s");
	::setenv("LAYERWATCH_MODE", "inotify", 1);
	{
		FakeIsulad isulad(tmp / "s");
		::unsetenv("LAYERWATCH_MODE");
		// As root, auto would take fanotify: the variable is what gives inotify here.
		CHECK(lw::test::eventually([&] { return fdsOfKind(isulad.pid(), "inotify") == 1; }, 10s));
		CHECK(fdsOfKind(isulad.pid(), "[fanotify]") == 0);
		CHECK(isulad.waitFor([&] { return isulad.images.size() == 1; }, 10s * lw::test::kSlowdown));
		isulad.stop();
	}
	// Bounded: a start that wrongly succeeds would wait for SIGTERM.
	auto bad = lw::test::runProgram("LAYERWATCH_MODE=sideways timeout -s KILL 20 " + std::string(FAKE_ISULAD) + " " +
					tmp.path() + "/s");
	CHECK(bad.status == 1);
	CHECK(bad.err == "remote_start_refresh_thread: -22\n");
}

TEST_CASE("iSulad's stores follow a local store in order, under its lock")
{
	lw::test::TempDir tmp;
	followPullsAndRemovals(tmp / "s", tmp / "s", 20, 20s * lw::test::kSlowdown);
}

TEST_CASE("a hook that fails is called again, and the order holds")
{
	lw::test::TempDir tmp;
	::setenv("FAKE_ISULAD_FLAKY", "1", 1);
	auto writer = lw::test::unwrap(StoreWriter::open(tmp / "s", {.durable = false, .makeLinks = false}));
	FakeIsulad isulad(tmp / "s");
	::unsetenv("FAKE_ISULAD_FLAKY");
	auto bases = baseChain(writer, 2);
	auto pulled = pull(writer, bases, 4, "app");
	REQUIRE(isulad.waitFor([&] { return isulad.images.size() == 4; }, 30s * lw::test::kSlowdown));
	lw::test::unwrap(writer.removeImage(pulled[0].first));
	REQUIRE(isulad.waitFor([&] { return isulad.images.size() == 3; }, 30s * lw::test::kSlowdown));
	isulad.stop();
	// Each of the 6 layers and 4 images failed once, and so did the removal.
	CHECK(isulad.failed.size() == 11);
	CHECK(isulad.layers.size() == 6);
	CHECK(isulad.violationCount == 0);
}

TEST_CASE("over a 200 µs network, 300 images load while iSulad's read lock waits under 50 ms")
{
	if (lw::test::netsimPath().empty())
		lw::test::skipTest("netsim was not built (no libfuse3)");
	lw::test::TempDir tmp;
	std::string server = tmp / "server", reader = tmp / "reader";
	lw::test::unwrap(StoreWriter::open(server, {.durable = false, .makeLinks = false}));
	std::vector<std::unique_ptr<lw::test::NetsimMount>> mounts;
	for (auto tree : kTrees) {
		lw::test::makeDirs(reader + "/" + tree);
		mounts.push_back(std::make_unique<lw::test::NetsimMount>(server + "/" + tree, reader + "/" + tree,
									 lw::test::NetsimOptions{.delayUs = 200}));
		if (!mounts.back()->mounted())
			lw::test::skipTest("netsim could not mount (FUSE)");
	}
	long waitedUs = followPullsAndRemovals(server, reader, 300 / lw::test::kSlowdown, 60s * lw::test::kSlowdown);
	// iSulad held its lock for a whole scan of the share; here only around each hook
	// (whose own reading of the files, over the network, is iSulad's).
	CHECK(waitedUs >= 0);
	CHECK(waitedUs < 50000 * lw::test::kSlowdown);
}

// A kernel queue overflow is never a lost change: with the queue at 32 events and the
// watcher stopped (SIGSTOP) while 150 images are written, all 150 are found after it
// resumes, and a resync is reported. inotify's queue (fs.inotify.max_queued_events),
// or fanotify's (fs.fanotify.max_queued_events) under LW_TEST_MODE=fanotify. Needs
// root to lower the queue (restored at once) and to mount a tmpfs for the store;
// skipped (77) without.
#include "bindfs_mount.h"
#include "child_process.h"
#include "test_support.h"

#include <layerwatch/writer.h>

#include <rapidjson/document.h>

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace lw;
using namespace std::chrono_literals;

namespace {

// The queue's size is read when the watcher makes its fd.
std::string queueKnob()
{
	return std::string("/proc/sys/fs/") + lw::test::backendName() + "/max_queued_events";
}

// Sets a /proc/sys value and puts the old one back when it goes.
class SysctlOverride {
public:
	SysctlOverride(std::string path, const std::string &value) : path_(std::move(path))
	{
		std::ifstream in(path_);
		in >> saved_;
		std::ofstream out(path_);
		out << value;
		ok_ = static_cast<bool>(out.flush());
	}
	~SysctlOverride() { restore(); }
	void restore()
	{
		if (!saved_.empty()) {
			std::ofstream(path_) << saved_;
			saved_.clear();
		}
	}
	bool ok() const { return ok_; }

private:
	std::string path_, saved_;
	bool ok_ = false;
};

// Reads child's lines until one holds needle, or the deadline passes.
bool waitForLine(lw::test::ChildProcess &child, const std::string &needle, std::chrono::milliseconds timeout = 10s)
{
	std::string line;
	while (child.readLine(line, timeout))
		if (line.find(needle) != std::string::npos)
			return true;
	return false;
}

// A tmpfs of the test's own, mounted at path until it goes: fanotify marks a whole
// filesystem, and on a 32-event queue any other writer on it (a log, the CI's own
// files) overflows the queue again and again, so a storm's end never comes.
class PrivateTmpfs {
public:
	explicit PrivateTmpfs(std::string path) : path_(std::move(path))
	{
		lw::test::makeDirs(path_);
		REQUIRE(::mount("lw-overflow-test", path_.c_str(), "tmpfs", 0, "size=64m") == 0);
	}
	~PrivateTmpfs() { ::umount2(path_.c_str(), MNT_DETACH); }
	PrivateTmpfs(const PrivateTmpfs &) = delete;
	PrivateTmpfs &operator=(const PrivateTmpfs &) = delete;
	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// A store with one base layer on a filesystem of its own, and `layerwatch watch` on it
// with a kernel queue of 32 events (the queue's size is fixed when the watcher makes
// its fd; the knob is put back at once). With a mount, overlay-layers/RO is a FUSE
// mount first: a remote tree.
struct SmallQueueWatch {
	lw::test::TempDir tmp;
	PrivateTmpfs fs{tmp / "fs"};
	std::string root = fs.path() + "/s";
	std::unique_ptr<lw::test::BindfsMount> remoteLayers;
	StoreWriter writer;
	std::string base = lw::test::makeId();
	std::unique_ptr<lw::test::ChildProcess> child;
	std::vector<std::string> startLines; // its lines up to ready

	// moreLayers: made before it starts, for its load to link.
	explicit SmallQueueWatch(bool layersRemote = false, int moreLayers = 0)
		: writer(lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false})))
	{
		lw::test::unwrap(writer.addLayer({.id = base}));
		for (int i = 0; i < moreLayers; ++i)
			lw::test::unwrap(writer.addLayer({.id = lw::test::makeId(), .parent = base}));
		if (layersRemote)
			remoteLayers = mountLayers();
		SysctlOverride queue(queueKnob(), "32");
		REQUIRE(queue.ok());
		child = std::make_unique<lw::test::ChildProcess>(std::vector<std::string>{
			LAYERWATCH, "watch", "--root", root, "--json", "--mode", lw::test::backendName()});
		// The ready line names the backend: the one asked for. (What came before it is
		// kept: a load may overflow the queue before its ready.)
		std::string line;
		while (child->readLine(line, 10s)) {
			startLines.push_back(line);
			if (line.find("\"event\":\"ready\"") != std::string::npos)
				break;
		}
		REQUIRE(!startLines.empty());
		REQUIRE(startLines.back().find(std::string("\"backend\":\"") + lw::test::backendName() + "\"") !=
			std::string::npos);
	}
	std::unique_ptr<lw::test::BindfsMount> mountLayers()
	{
		// What the writer made there moves to the server's side (a FUSE mount takes no
		// renameat2 flags: the writer writes the local trees only from now on).
		std::string server = fs.path() + "/layers-server";
		REQUIRE(::rename((root + "/overlay-layers/RO").c_str(), server.c_str()) == 0);
		lw::test::makeDirs(root + "/overlay-layers/RO");
		auto mount = std::make_unique<lw::test::BindfsMount>(server, root + "/overlay-layers/RO");
		REQUIRE(mount->mounted());
		return mount;
	}
	// With the watcher stopped (SIGSTOP), n images published, then it resumes: what
	// it added, and the trees it resynced for an overflow (once each time).
	struct Burst {
		std::set<std::string> published, added;
		std::multiset<std::string> overflowed;
	};
	Burst publishWhileStopped(int n)
	{
		Burst b;
		REQUIRE(::kill(child->pid(), SIGSTOP) == 0);
		for (int i = 0; i < n; ++i)
			b.published.insert(publish(i, "app:" + std::to_string(i)));
		REQUIRE(::kill(child->pid(), SIGCONT) == 0);
		std::string line;
		while (b.added.size() < b.published.size() && child->readLine(line, 30s)) {
			rapidjson::Document doc;
			doc.Parse(line.c_str());
			REQUIRE_FALSE(doc.HasParseError());
			std::string event = doc["event"].GetString();
			if (event == "image_added")
				b.added.insert(doc["id"].GetString());
			if (event == "resync" && std::string(doc["reason"].GetString()) == "overflow")
				b.overflowed.insert(doc["tree"].GetString());
		}
		return b;
	}
	std::string publish(int n, const std::string &name)
	{
		return lw::test::unwrap(writer.publishImage(
			{.topLayer = base, .names = {name}, .config = "{\"n\":" + std::to_string(n) + "}"}));
	}
};

} // namespace

int main(int argc, char **argv)
{
	lw::test::skipIfModeUnavailable();
	if (::geteuid() != 0 || ::access(queueKnob().c_str(), W_OK) != 0)
		lw::test::skipTest("needs root to change " + queueKnob());
	{
		lw::test::TempDir probe;
		if (::mount("lw-overflow-test", probe.path().c_str(), "tmpfs", 0, "size=1m") != 0)
			lw::test::skipTest("needs to mount a tmpfs");
		::umount2(probe.path().c_str(), MNT_DETACH);
	}
	doctest::Context context(argc, argv);
	return context.run();
}

TEST_CASE("150 images written while the watcher is stopped on a 32-event queue: all found, one resync")
{
	SmallQueueWatch w;
	auto burst = w.publishWhileStopped(150);
	CHECK(burst.added == burst.published);
	CHECK(burst.overflowed.size() >= 1);

	REQUIRE(::kill(w.child->pid(), SIGTERM) == 0);
	CHECK(waitForLine(*w.child, "\"event\":\"stopped\""));
	CHECK(w.child->wait(10s) == 0);
}

// A remote tree needs bindfs and /dev/fuse: skipped (told as such) without.
TEST_CASE("an overflow resyncs only the trees the kernel source watches, never a remote one" *
	  doctest::skip(!lw::test::haveBindfs()))
{
	SmallQueueWatch w(true);
	auto burst = w.publishWhileStopped(150);
	CHECK(burst.added == burst.published);
	CHECK(burst.overflowed.count("overlay-images") >= 1);
	CHECK(burst.overflowed.count("overlay-layers/RO") == 0); // remote: rescanned by its ticks alone
	REQUIRE(::kill(w.child->pid(), SIGTERM) == 0);
	CHECK(w.child->wait(10s) == 0);
}

TEST_CASE("the links this host makes for its load do not overflow a 32-event queue")
{
	// 100 layers: 300 links made at once on the store's filesystem, which fanotify hears
	// whole. Any overflow they caused is told before the image published after ready.
	SmallQueueWatch w(false, 100);
	std::string sentinel = w.publish(0, "after:1");
	int overflows = 0;
	bool added = false;
	auto look = [&](const std::string &line) {
		rapidjson::Document doc;
		doc.Parse(line.c_str());
		REQUIRE_FALSE(doc.HasParseError());
		std::string event = doc["event"].GetString();
		overflows += event == "resync" && std::string(doc["reason"].GetString()) == "overflow";
		added = event == "image_added" && doc["id"].GetString() == sentinel;
	};
	for (const auto &line : w.startLines)
		look(line);
	std::string line;
	while (!added && w.child->readLine(line, 10s))
		look(line);
	REQUIRE(added);
	CHECK(overflows == 0);
	CHECK(lw::test::readLinkAt(w.root + "/overlay/" + w.base) == "RO/" + w.base);
	REQUIRE(::kill(w.child->pid(), SIGTERM) == 0);
	CHECK(w.child->wait(10s) == 0);
}

TEST_CASE("an overflow storm, then quiet: the view is right within a second of the quiet")
{
	SmallQueueWatch w;
	auto &child = *w.child;
	std::string line;

	// A storm: overflow after overflow, closer than a second apart, so the rescans back off.
	std::set<std::string> published;
	int n = 0;
	std::set<std::string> added;
	auto readAvailable = [&](std::chrono::milliseconds wait) {
		while (child.readLine(line, wait)) {
			rapidjson::Document doc;
			doc.Parse(line.c_str());
			REQUIRE_FALSE(doc.HasParseError());
			if (std::string(doc["event"].GetString()) == "image_added")
				added.insert(doc["id"].GetString());
			if (added.size() == published.size())
				return;
		}
	};
	std::chrono::steady_clock::time_point quietFrom;
	for (int round = 0; round < 6; ++round) {
		REQUIRE(::kill(child.pid(), SIGSTOP) == 0);
		for (int i = 0; i < 40; ++i, ++n)
			published.insert(w.publish(n, "storm:" + std::to_string(n)));
		REQUIRE(::kill(child.pid(), SIGCONT) == 0);
		quietFrom = std::chrono::steady_clock::now();
		readAvailable(std::chrono::milliseconds(150));
	}
	readAvailable(std::chrono::milliseconds(5000));
	auto took = std::chrono::steady_clock::now() - quietFrom;
	MESSAGE("view right " << std::chrono::duration<double, std::milli>(took).count() << " ms after the last overflow");
	CHECK(added == published);
	CHECK(took < 1s * lw::test::kSlowdown);

	REQUIRE(::kill(child.pid(), SIGTERM) == 0);
	CHECK(child.wait(10s) == 0);
}

// `layerwatch watch` as a service: systemd's notify protocol (a socket standing in
// for systemd's), SIGHUP and SIGUSR1, journal priorities and the metrics file.
#include "child_process.h"
#include "prometheus_parser.h"
#include "test_support.h"

#include <layerwatch/writer.h>

#include <rapidjson/document.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using lw::test::ChildProcess;
using lw::test::readFile;
using lw::test::TempDir;
using lw::test::unwrap;
using lw::test::writeFile;

namespace {

// What systemd's end of NOTIFY_SOCKET receives: one datagram per state change.
class NotifySocket {
public:
	// A path, or "@name" for the abstract namespace.
	explicit NotifySocket(std::string address) : address_(std::move(address))
	{
		fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		REQUIRE(fd_ >= 0);
		sockaddr_un sa{};
		sa.sun_family = AF_UNIX;
		std::memcpy(sa.sun_path, address_.data(), address_.size());
		if (address_[0] == '@')
			sa.sun_path[0] = '\0';
		REQUIRE(::bind(fd_, reinterpret_cast<sockaddr *>(&sa),
			       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size())) == 0);
	}
	~NotifySocket() { ::close(fd_); }
	const std::string &address() const { return address_; }

	// The next datagram that changes the state (status-only ones, sent as the counts
	// change, are skipped), or "" when none comes before the deadline.
	std::string receive(std::chrono::milliseconds timeout = 10s)
	{
		auto deadline = std::chrono::steady_clock::now() + timeout;
		for (;;) {
			auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
			pollfd p{fd_, POLLIN, 0};
			if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1)
				return {};
			char buf[4096];
			ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
			std::string datagram = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
			if (!datagram.starts_with("STATUS="))
				return datagram;
		}
	}

private:
	std::string address_;
	int fd_ = -1;
};

// `layerwatch watch ARGS` with its stderr in errFile and env before it.
std::vector<std::string> watchCommand(const std::string &env, const std::string &args, const std::string &errFile)
{
	return {"/bin/sh", "-c", "exec env " + env + " " + LAYERWATCH + " watch " + args + " 2>" + errFile};
}

// Reads lines until one contains text; false at the deadline.
bool readUntil(ChildProcess &child, const std::string &text, std::string *found = nullptr,
	       std::chrono::milliseconds timeout = 10s)
{
	std::string line;
	auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline)
		if (child.readLine(line, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())) &&
		    line.find(text) != std::string::npos) {
			if (found)
				*found = line;
			return true;
		}
	return false;
}

bool fileHas(const std::string &path, const std::string &text)
{
	return lw::test::eventually([&] { return lw::test::exists(path) && readFile(path).find(text) != std::string::npos; }, 10s);
}

} // namespace

TEST_CASE("systemd notify: READY=1 after ready with the counts, STOPPING=1 on SIGTERM; SIGUSR1 and SIGHUP log")
{
	for (std::string kind : {"path", "abstract"}) {
		INFO(kind);
		TempDir tmp;
		std::string root = tmp / "storage";
		lw::test::storeWithOneImage(root);
		NotifySocket notify(kind == "path" ? tmp / "notify" : "@layerwatch-test-" + std::to_string(::getpid()));
		std::string err = tmp / "err";
		ChildProcess child(watchCommand("NOTIFY_SOCKET=" + notify.address(), "--json --mode inotify -r " + root, err));

		// READY=1 is sent after the ready line is written: once it arrives, the line is there.
		CHECK(notify.receive() == "READY=1\nSTATUS=1 images, 1 layers, 0 pending");
		CHECK(readUntil(child, "\"event\":\"ready\"", nullptr, 1s));

		REQUIRE(::kill(child.pid(), SIGUSR1) == 0);
		CHECK(fileHas(err, "layerwatch: stats: backend=inotify images=1 layers=1 pending=0"));
		REQUIRE(::kill(child.pid(), SIGHUP) == 0);
		CHECK(fileHas(err, "layerwatch: SIGHUP: started with --root, not --config: nothing to re-read"));

		REQUIRE(::kill(child.pid(), SIGTERM) == 0);
		CHECK(notify.receive() == "STOPPING=1");
		CHECK(readUntil(child, "\"event\":\"stopped\""));
		CHECK(child.wait(5s) == 0);
	}
}

TEST_CASE("a notify socket nobody reads: events keep flowing, the drop is said once, SIGTERM still stops it")
{
	TempDir tmp;
	std::string root = tmp / "storage";
	auto writer = unwrap(lw::StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId();
	unwrap(writer.addLayer({.id = base}));
	// Bound, never read: a stuck or replaced manager. Its queue holds a few datagrams.
	NotifySocket deaf(tmp / "notify");
	std::string err = tmp / "err";
	ChildProcess child(watchCommand("NOTIFY_SOCKET=" + deaf.address(), "--json --mode inotify -i 100 -r " + root, err));
	REQUIRE(readUntil(child, "\"event\":\"ready\""));
	// Each image changes the counts: one STATUS= per tick, more than the queue holds.
	for (int i = 0; i < 40; ++i) {
		std::string image = unwrap(writer.publishImage({.topLayer = base, .names = {"app:" + std::to_string(i)},
								.config = "{\"n\":" + std::to_string(i) + "}"}));
		REQUIRE(readUntil(child, "\"id\":\"" + image + "\""));
		std::this_thread::sleep_for(120ms); // a tick between two: each its own STATUS=
	}
	CHECK(fileHas(err, "notify socket is full"));
	std::string said = readFile(err);
	CHECK(said.find("notify socket is full") == said.rfind("notify socket is full"));
	auto started = std::chrono::steady_clock::now();
	REQUIRE(::kill(child.pid(), SIGTERM) == 0);
	CHECK(readUntil(child, "\"event\":\"stopped\"", nullptr, 2s));
	CHECK(child.wait(2s) == 0);
	CHECK(std::chrono::steady_clock::now() - started < 2s * lw::test::kSlowdown);
}

// A consumer of `watch --json` that holds what the lines told, and no rule of its own
// for a reload.
struct Follower {
	std::set<std::string> images, layers;
	int readies = 0;
	void take(const std::string &line)
	{
		rapidjson::Document doc;
		doc.Parse(line.c_str());
		REQUIRE_FALSE(doc.HasParseError());
		std::string event = doc["event"].GetString();
		std::string id = doc.HasMember("id") ? doc["id"].GetString() : "";
		if (event == "image_added")
			images.insert(id);
		else if (event == "image_removed")
			CHECK(images.erase(id) == 1);
		else if (event == "layer_added")
			layers.insert(id);
		else if (event == "layer_removed")
			CHECK(layers.erase(id) == 1);
		else if (event == "ready")
			++readies;
	}
};

TEST_CASE("SIGHUP re-reads --config: the same root, a broken file, then a new root and a new view")
{
	TempDir tmp;
	std::string graphA = tmp / "a", graphB = tmp / "b";
	lw::test::storeWithOneImage(graphA + "/storage");
	std::string firstB = lw::test::storeWithOneImage(graphB + "/storage");
	auto writerB = unwrap(lw::StoreWriter::open(graphB + "/storage", {.durable = false}));
	std::string base = lw::test::makeId();
	unwrap(writerB.addLayer({.id = base}));
	std::string secondB = unwrap(writerB.publishImage({.topLayer = base, .names = {"second:1"}}));
	std::string config = tmp / "daemon.json";
	auto configFor = [](const std::string &graph) {
		return "{\"graph\": \"" + graph + "\", \"storage-enable-remote-layer\": true}";
	};
	writeFile(config, configFor(graphA));
	NotifySocket notify(tmp / "notify");
	std::string err = tmp / "err";
	ChildProcess child(watchCommand("NOTIFY_SOCKET=" + notify.address(), "--json --mode inotify --config " + config, err));
	REQUIRE(notify.receive() == "READY=1\nSTATUS=1 images, 1 layers, 0 pending");

	REQUIRE(::kill(child.pid(), SIGHUP) == 0);
	CHECK(notify.receive() == "RELOADING=1");
	CHECK(notify.receive() == "READY=1");
	CHECK(fileHas(err, "re-read: the root is still " + graphA + "/storage"));

	writeFile(config, "{\"graph\": ");
	REQUIRE(::kill(child.pid(), SIGHUP) == 0);
	CHECK(notify.receive() == "RELOADING=1");
	CHECK(notify.receive() == "READY=1");
	CHECK(fileHas(err, "cannot be used: still following " + graphA + "/storage"));

	writeFile(config, configFor(graphB));
	REQUIRE(::kill(child.pid(), SIGHUP) == 0);
	CHECK(notify.receive() == "RELOADING=1");
	// Every line from the start, as a consumer takes them: at the new view's ready it
	// holds exactly B, A's items told as removals before any of B's.
	Follower follower;
	std::string line;
	while (follower.readies < 2 && child.readLine(line, 10s))
		follower.take(line);
	REQUIRE(follower.readies == 2);
	CHECK(line.find("\"images\":2") != std::string::npos);
	CHECK(follower.images == std::set<std::string>{firstB, secondB});
	CHECK(follower.layers.size() == 2);
	CHECK(notify.receive() == "READY=1\nSTATUS=2 images, 2 layers, 0 pending");
	CHECK(fileHas(err, "the root is now " + graphB + "/storage"));
	// The new view follows B.
	auto published = unwrap(writerB.publishImage({.topLayer = base, .names = {"third:1"}, .config = "{\"os\":\"linux\"}"}));
	CHECK(readUntil(child, "\"id\":\"" + published + "\""));

	REQUIRE(::kill(child.pid(), SIGTERM) == 0);
	// One stopped line: the replaced watcher stopped silently.
	std::string rest;
	while (child.readLine(line, 5s))
		rest += line + "\n";
	CHECK(rest.find("\"event\":\"stopped\"") != std::string::npos);
	CHECK(rest.find("\"event\":\"stopped\"") == rest.rfind("\"event\":\"stopped\""));
	CHECK(child.wait(5s) == 0);
}

TEST_CASE("--metrics-file: strict Prometheus text whose counts follow the store")
{
	TempDir tmp;
	std::string root = tmp / "storage";
	lw::test::storeWithOneImage(root);
	std::string metrics = tmp / "layerwatch.prom";
	ChildProcess child(watchCommand("", "--json --mode inotify --interval 100 --metrics-file=" + metrics + " -r " + root,
					tmp / "err"));
	REQUIRE(readUntil(child, "\"event\":\"ready\""));
	auto parsed = [&] { return lw::test::parsePrometheus(lw::test::exists(metrics) ? readFile(metrics) : ""); };
	REQUIRE(lw::test::eventually([&] { return parsed().value("layerwatch_ready") == 1; }, 10s));
	auto first = parsed();
	REQUIRE_MESSAGE(first.error.empty(), first.error);
	CHECK(first.value("layerwatch_images") == 1);
	CHECK(first.value("layerwatch_layers") == 1);
	CHECK(first.value("layerwatch_pending{kind=\"image\"}") == 0);
	CHECK(first.labels("layerwatch_info").at("backend") == "inotify");
	CHECK(first.labels("layerwatch_info").at("root") == root);
	CHECK(first.types.at("layerwatch_errors_total") == "counter");

	auto writer = unwrap(lw::StoreWriter::open(root, {.durable = false}));
	std::string base = lw::test::makeId();
	unwrap(writer.addLayer({.id = base}));
	auto image = unwrap(writer.publishImage({.topLayer = base}));
	REQUIRE(readUntil(child, "\"id\":\"" + image + "\""));
	CHECK(lw::test::eventually([&] { return parsed().value("layerwatch_images") == 2; }, 10s));
	CHECK(parsed().value("layerwatch_layers") == 2);
	CHECK(parsed().value("layerwatch_kernel_events_total") > 0);
	for (const auto &[name, what] : lw::test::snapshotTree(tmp.path()))
		CHECK_MESSAGE(name.find(".prom.tmp") == std::string::npos, name); // no temporary left

	// An unwritable metrics path: said once on stderr; the watcher goes on.
	std::string err2 = tmp / "err2";
	ChildProcess broken(watchCommand("", "--mode inotify --interval 100 --metrics-file " + tmp.path() + "/no/such/x.prom -r " + root,
					 err2));
	CHECK(readUntil(broken, "ready"));
	CHECK(fileHas(err2, "layerwatch: metrics file " + tmp.path() + "/no/such/x.prom: No such file or directory"));
	REQUIRE(::kill(broken.pid(), SIGUSR1) == 0);
	CHECK(fileHas(err2, "stats:"));
	auto text = readFile(err2);
	CHECK(text.find("metrics file") == text.rfind("metrics file"));
}

TEST_CASE("journal: text lines and log lines carry <N> priorities when the output is the journal stream")
{
	TempDir tmp;
	std::string root = tmp / "storage";
	lw::test::storeWithOneImage(root);
	// A pending layer: its overlay has no link file yet.
	lw::test::makeDirs(root + "/overlay-layers/RO/" + lw::test::makeId());
	// The stream systemd would name: this shell's stdout (the test's pipe), also stderr.
	std::string exec = std::string("exec env JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/1) ") + LAYERWATCH +
			   " watch --mode inotify -r " + root + " 2>&1";
	ChildProcess child({"/bin/sh", "-c", exec});
	std::string line;
	REQUIRE(readUntil(child, " pending ", &line));
	CHECK(line.rfind("<5>", 0) == 0);
	REQUIRE(readUntil(child, " ready ", &line));
	CHECK(line.rfind("<6>", 0) == 0);
	REQUIRE(::kill(child.pid(), SIGHUP) == 0);
	REQUIRE(readUntil(child, "SIGHUP", &line));
	CHECK(line == "<5>SIGHUP: started with --root, not --config: nothing to re-read");
	REQUIRE(::kill(child.pid(), SIGTERM) == 0);
	CHECK(child.wait(5s) == 0);

	// JSON lines stay exactly as the contract has them.
	ChildProcess json({"/bin/sh", "-c", exec + " --json"});
	REQUIRE(readUntil(json, "\"event\":\"ready\"", &line));
	CHECK(line.rfind("{", 0) == 0);
}

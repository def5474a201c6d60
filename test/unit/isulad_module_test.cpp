// The iSulad module's parts on their own: the hook thread (order, links under the
// lock, retries, what waits behind a failure, stopping from anywhere), the journal's
// lines, the operator's path, the Gone events the module relies on, and the C
// functions' errors.
#include "isulad_hooks.h"
#include "journal_log.h"

#include "fs_write.h"
#include "reconciler.h"
#include "root.h"
#include "test_support.h"

#include <layerwatch/isulad.h>
#include <layerwatch/layerwatch.h>
#include <layerwatch/writer.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

using namespace lw;
using namespace std::chrono_literals;

namespace {

// What the in-process hooks saw: one line per call, "load <id>" ... with "+links" when
// the layer's links were there during the call, "!unlocked" when the lock was not
// held for writing.
struct Recorder {
	std::mutex mutex;
	std::vector<std::string> calls;
	std::set<std::string> failing; // ids whose every call fails
	std::string root;
	pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
	std::atomic<int> hangFor{0}; // ms a call sleeps
	std::atomic<bool> stopFromHook{false};
	isulad::HookCaller *caller = nullptr;

	int record(const char *what, const char *id)
	{
		std::string line = std::string(what) + " " + id;
		if (pthread_rwlock_tryrdlock(&lock) == 0) {
			pthread_rwlock_unlock(&lock);
			line += " !unlocked";
		}
		if (std::string(what) == "load" && lw::test::exists(root + "/overlay-layers/" + id) &&
		    lw::test::exists(root + "/overlay/" + id))
			line += " +links";
		if (stopFromHook && caller)
			line += caller->stop(0ms) ? " stop:ended" : " stop:running";
		if (int ms = hangFor.load())
			std::this_thread::sleep_for(std::chrono::milliseconds(ms));
		std::lock_guard guard(mutex);
		calls.push_back(line);
		return failing.count(id) ? -1 : 0;
	}
	std::vector<std::string> seen()
	{
		std::lock_guard guard(mutex);
		return calls;
	}
};

Recorder *gRecorder = nullptr;

isulad::Hooks recordingHooks()
{
	return {[](const char *id) { return gRecorder->record("load", id); },
		[](const char *id) { return gRecorder->record("remove_layer", id); },
		[](const char *id) { return gRecorder->record("append", id); },
		[](const char *id) { return gRecorder->record("remove_image", id); }};
}

// A store with RO layers (both halves) for the links, and a caller on it.
struct Bench {
	lw::test::TempDir tmp;
	Recorder recorder;
	std::unique_ptr<isulad::HookCaller> caller;
	std::vector<std::pair<LogLevel, std::string>> logged;
	std::mutex logMutex;

	explicit Bench(std::chrono::milliseconds retry = 100ms)
	{
		recorder.root = tmp / "s";
		lw::test::unwrap(StoreWriter::open(recorder.root, {.durable = false, .makeLinks = false}));
		gRecorder = &recorder;
		caller = std::make_unique<isulad::HookCaller>(
			recordingHooks(), &recorder.lock, lw::test::unwrap(openRoot(recorder.root)),
			[this](LogLevel level, const std::string &m) {
				std::lock_guard guard(logMutex);
				logged.emplace_back(level, m);
			},
			isulad::HookTiming{.retry = retry, .lockSlice = 20ms});
		recorder.caller = caller.get();
	}
	~Bench()
	{
		if (caller)
			caller->stop(5s);
		gRecorder = nullptr;
	}

	// A hook call is being made (the lock is held for writing).
	bool inCall()
	{
		if (pthread_rwlock_tryrdlock(&recorder.lock) == 0) {
			pthread_rwlock_unlock(&recorder.lock);
			return false;
		}
		return true;
	}

	std::string layer(const std::string &parent = "")
	{
		auto w = lw::test::unwrap(StoreWriter::open(recorder.root, {.durable = false, .makeLinks = false}));
		std::string id = lw::test::makeId();
		lw::test::unwrap(w.addLayer({.id = id, .parent = parent}));
		return id;
	}
	std::string link(const std::string &id) { return lw::test::readFile(recorder.root + "/overlay/RO/" + id + "/link"); }
	Event layerEvent(EventType type, const std::string &id, const std::string &parent = "")
	{
		Event e{.type = type, .id = id};
		e.layer = std::make_shared<LayerInfo>(LayerInfo{.id = id, .parent = parent, .link = link(id)});
		return e;
	}
	Event imageEvent(EventType type, const std::string &id, const std::string &top)
	{
		Event e{.type = type, .id = id};
		e.image = std::make_shared<ImageInfo>(ImageInfo{.id = id, .topLayer = top});
		return e;
	}
	bool waitCalls(std::size_t n, std::chrono::milliseconds timeout = 10s)
	{
		return lw::test::eventually([&] { return recorder.seen().size() >= n; }, timeout);
	}
	std::size_t logCount(LogLevel level)
	{
		std::lock_guard guard(logMutex);
		return std::count_if(logged.begin(), logged.end(), [&](const auto &l) { return l.first == level; });
	}
};

std::vector<std::string> readLines(int fd)
{
	std::string all;
	char buf[4096];
	for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
		all.append(buf, static_cast<std::size_t>(n));
	std::vector<std::string> lines;
	for (std::size_t at = 0, nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1)
		lines.push_back(all.substr(at, nl - at));
	return lines;
}

} // namespace

TEST_CASE("hooks: in order, under the lock, a layer's links there while it is loaded and gone after its removal")
{
	Bench b;
	std::string base = b.layer(), top = b.layer(base), image = lw::test::makeId();
	// One at a time: a removal would cancel an addition still queued.
	std::size_t calls = 0;
	for (auto [e, made] : {std::pair{b.layerEvent(EventType::LayerAdded, base), 1},
			       {b.layerEvent(EventType::LayerAdded, top, base), 1},
			       {b.imageEvent(EventType::ImageAdded, image, top), 1},
			       {b.imageEvent(EventType::ImageUpdated, image, top), 2},
			       {b.imageEvent(EventType::ImageRemoved, image, top), 1},
			       {b.layerEvent(EventType::LayerRemoved, top, base), 1}}) {
		b.caller->onEvent(e);
		calls += made;
		REQUIRE(b.waitCalls(calls));
	}
	std::vector<std::string> want = {"load " + base + " +links", "load " + top + " +links", "append " + image,
					 "remove_image " + image, "append " + image, "remove_image " + image,
					 "remove_layer " + top};
	CHECK(b.recorder.seen() == want);
	REQUIRE(lw::test::eventually([&] { return b.caller->queued() == 0; }, 5s)); // the last call settled
	CHECK(lw::test::exists(b.recorder.root + "/overlay-layers/" + base));
	CHECK(!lw::test::exists(b.recorder.root + "/overlay-layers/" + top));
	CHECK(!lw::test::exists(b.recorder.root + "/overlay/" + top));
}

TEST_CASE("hooks: a removal cancels an addition not made yet, and is made all the same")
{
	Bench b;
	std::string base = b.layer();
	b.recorder.hangFor = 300; // the first call holds the thread while the rest queue
	b.caller->onEvent(b.layerEvent(EventType::LayerAdded, base));
	REQUIRE(lw::test::eventually([&] { return b.inCall(); }, 5s));
	std::string image = lw::test::makeId();
	b.caller->onEvent(b.imageEvent(EventType::ImageAdded, image, base));
	b.caller->onEvent(Event{.type = EventType::Gone, .id = image, .kind = ItemKind::Image});
	b.recorder.hangFor = 0;
	REQUIRE(lw::test::eventually([&] { return b.caller->queued() == 0; }, 5s));
	// The image was never appended; its removal still went (iSulad may have had it
	// since its start).
	CHECK(b.recorder.seen() == std::vector<std::string>{"load " + base + " +links", "remove_image " + image});
}

TEST_CASE("hooks: a failing load takes its links back, is tried once a period, and only what shares an id waits")
{
	Bench b(300ms);
	std::string base = b.layer(), broken = b.layer(base), child = b.layer(broken), beside = b.layer(base);
	std::string onBroken = lw::test::makeId();
	b.recorder.failing = {broken};
	for (auto e : {b.layerEvent(EventType::LayerAdded, base), b.layerEvent(EventType::LayerAdded, broken, base),
		       b.layerEvent(EventType::LayerAdded, child, broken), b.imageEvent(EventType::ImageAdded, onBroken, broken),
		       b.layerEvent(EventType::LayerAdded, beside, base)})
		b.caller->onEvent(e);
	REQUIRE(b.waitCalls(3));
	auto seen = b.recorder.seen();
	CHECK(seen[0] == "load " + base + " +links");
	CHECK(seen[1] == "load " + broken + " +links");
	CHECK(seen[2] == "load " + beside + " +links"); // not behind the failure
	CHECK(!lw::test::exists(b.recorder.root + "/overlay/" + broken)); // taken back
	CHECK(!lw::test::exists(b.recorder.root + "/overlay/l/" + b.link(broken)));
	std::this_thread::sleep_for(1000ms);
	auto later = b.recorder.seen();
	long tries = std::count(later.begin(), later.end(), "load " + broken + " +links");
	CHECK(tries >= 2);
	CHECK(tries <= 6);
	CHECK(std::none_of(later.begin(), later.end(), [&](const std::string &l) { return l.find(child) != std::string::npos; }));
	CHECK(b.logCount(LogLevel::Error) == 1); // logged once

	// It recovers: what waited follows, in order, and the recovery is said.
	{
		std::lock_guard guard(b.recorder.mutex);
		b.recorder.failing.clear();
	}
	REQUIRE(b.waitCalls(later.size() + 3, 5s));
	auto after = b.recorder.seen();
	std::vector<std::string> tail(after.end() - 3, after.end());
	CHECK(tail == std::vector<std::string>{"load " + broken + " +links", "load " + child + " +links", "append " + onBroken});
	CHECK(b.logCount(LogLevel::Warning) == 1);
}

TEST_CASE("hooks: stop gives up a wait for the lock, does not wait from a hook, and leaves a hung hook behind")
{
	SUBCASE("a reader holds the lock")
	{
		Bench b;
		pthread_rwlock_rdlock(&b.recorder.lock);
		b.caller->onEvent(b.layerEvent(EventType::LayerAdded, b.layer()));
		std::this_thread::sleep_for(100ms);
		auto started = std::chrono::steady_clock::now();
		CHECK(b.caller->stop(2s));
		CHECK(std::chrono::steady_clock::now() - started < 1s);
		pthread_rwlock_unlock(&b.recorder.lock);
		CHECK(b.recorder.seen().empty());
	}
	SUBCASE("from a hook")
	{
		Bench b;
		b.recorder.stopFromHook = true;
		b.caller->onEvent(b.layerEvent(EventType::LayerAdded, b.layer()));
		b.caller->onEvent(b.layerEvent(EventType::LayerAdded, b.layer()));
		REQUIRE(b.waitCalls(1));
		std::this_thread::sleep_for(100ms);
		auto seen = b.recorder.seen();
		REQUIRE(seen.size() == 1); // nothing after the stop
		CHECK(seen[0].ends_with(" stop:running"));
	}
	SUBCASE("a hook that hangs")
	{
		Bench b;
		b.recorder.hangFor = 1500;
		b.caller->onEvent(b.layerEvent(EventType::LayerAdded, b.layer()));
		REQUIRE(lw::test::eventually([&] { return b.inCall(); }, 5s));
		auto started = std::chrono::steady_clock::now();
		CHECK_FALSE(b.caller->stop(200ms));
		CHECK(std::chrono::steady_clock::now() - started < 1s);
		// The state outlives the caller; the thread ends once the hook returns (the
		// recorder, which the hook uses, must outlive that: its mutex orders them).
		b.caller.reset();
		CHECK(lw::test::eventually([&] { return b.recorder.seen().size() == 1; }, 5s));
	}
}

TEST_CASE("journal: one line per message, with the journal's priority, control bytes escaped, rate-limited")
{
	int fds[2];
	REQUIRE(::pipe2(fds, O_NONBLOCK) == 0);
	{
		auto log = isulad::journalLog(fds[1], LogLevel::Info, {.burst = 3, .window = 300ms});
		log(LogLevel::Debug, "not shown");
		log(LogLevel::Error, "bad\n<0>forged");
		log(LogLevel::Warning, "careful");
		log(LogLevel::Info, "fine");
		log(LogLevel::Error, "dropped");
		log(LogLevel::Error, "dropped too");
		std::this_thread::sleep_for(350ms);
		log(LogLevel::Warning, "again");
	}
	::close(fds[1]);
	auto lines = readLines(fds[0]);
	::close(fds[0]);
	CHECK(lines == std::vector<std::string>{"<3>layerwatch: bad\\x0a<0>forged", "<4>layerwatch: careful",
						"<6>layerwatch: fine",
						"<4>layerwatch: 2 messages dropped by the rate limit (3 per 0.3 s)",
						"<4>layerwatch: again"});
	CHECK(isulad::parseLogLevel("debug") == LogLevel::Debug);
	CHECK(!isulad::parseLogLevel("loud"));
}

TEST_CASE("the operator's path: its symlinks followed, what does not exist yet appended")
{
	lw::test::TempDir tmp;
	lw::test::makeDirs(tmp / "volume/isulad");
	lw::test::makeSymlink(tmp / "volume/isulad", tmp / "isulad");
	std::string real = lw::test::unwrap(fs::resolveTrustedPath(tmp / "volume"));
	CHECK(lw::test::unwrap(fs::resolveTrustedPath(tmp / "isulad/storage/overlay")) == real + "/isulad/storage/overlay");
	CHECK(lw::test::unwrap(fs::resolveTrustedPath(tmp / "isulad//storage/")) == real + "/isulad/storage");
	CHECK(lw::test::unwrap(fs::resolveTrustedPath("/")) == "/");
	auto dotted = fs::resolveTrustedPath(tmp / "isulad/missing/../x");
	REQUIRE_FALSE(dotted.ok());
	CHECK(dotted.error().code == EINVAL);
	lw::test::writeFile(tmp / "file", "x");
	CHECK(fs::resolveTrustedPath(tmp / "file/below").error().code == ENOTDIR);
}

TEST_CASE("gone: an item never committed that leaves the share is told, images first, children before parents")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto w = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string ready = lw::test::makeId(), torn = lw::test::makeId(), child = lw::test::makeId();
	lw::test::unwrap(w.addLayer({.id = ready}));
	lw::test::unwrap(w.addLayer({.id = torn, .parent = ready}));
	lw::test::unwrap(w.addLayer({.id = child, .parent = torn}));
	std::string pendingImage = lw::test::unwrap(w.publishImage({.topLayer = child, .names = {"p:1"}}));
	std::string readyImage = lw::test::unwrap(w.publishImage({.topLayer = ready, .names = {"r:1"}}));
	::unlink((root + "/overlay-layers/RO/" + torn + "/" + torn + ".tar-split.gz").c_str());

	for (bool tellGone : {false, true}) {
		CAPTURE(tellGone);
		std::string copy = tmp / ("copy" + std::to_string(tellGone));
		REQUIRE(lw::test::run("cp -a " + root + " " + copy) == 0);
		auto fd = lw::test::unwrap(openRoot(copy));
		Store store;
		Reconciler r(fd.get(), store, {.commitLinks = false, .tellGone = tellGone});
		r.rescan();
		REQUIRE(store.snapshot().image(readyImage));
		REQUIRE(!store.snapshot().image(pendingImage));
		// Everything goes; one rescan sees it all at once.
		for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"})
			REQUIRE(lw::test::run("rm -rf " + copy + "/" + tree + "/*") == 0);
		std::vector<std::string> told;
		for (const auto &e : r.rescan())
			if (e.type != EventType::Pending)
				told.push_back(std::string(eventName(e.type)) + " " + (*eventKindName(e) ? std::string(eventKindName(e)) + " " : "") + e.id);
		std::vector<std::string> want = {"image_removed " + readyImage};
		if (tellGone)
			want.insert(want.end(), {"gone image " + pendingImage, "gone layer " + child, "gone layer " + torn});
		want.push_back("layer_removed " + ready);
		CHECK(told == want);
	}
}

TEST_CASE("the C functions say why they fail")
{
	lw::test::TempDir tmp;
	REQUIRE(remote_layer_init((tmp / "a/overlay-layers").c_str()) == 0);
	REQUIRE(remote_overlay_init((tmp / "b/overlay").c_str()) == 0);
	CHECK(start_refresh_thread() == -EINVAL);
	CHECK(std::string(lw_last_error()).find("one storage root") != std::string::npos);
	CHECK(remote_layer_build_ro_dir("..") == -EINVAL);
	CHECK(std::string(lw_last_error()).find("one plain path component") != std::string::npos);
	remote_maintain_cleanup();
	CHECK(remote_layer_build_ro_dir("abc") == -EINVAL);
	CHECK(std::string(lw_last_error()).find("not initialised") != std::string::npos);
	CHECK(remote_layer_init(nullptr) == -EINVAL);
	CHECK(std::string(lw_last_error()) != "");
}

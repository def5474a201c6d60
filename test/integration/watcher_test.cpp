// The engine on real folders with a real libuv loop and real inotify (or fanotify:
// LW_TEST_MODE, the fanotify suite).
#include "event_log.h"
#include "test_support.h"

#include <layerwatch/model.h>
#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <uv.h>

#include <algorithm>
#include <thread>

using namespace lw;
using lw::test::EventLog;
using lw::test::makeDirs;
using lw::test::writeFile;
using namespace std::chrono_literals;

namespace {

// Writes files one at a time, as iSulad does (no folder renamed into place), with
// a pause between them so that each lands in its own inotify batch.
class SlowWriter {
public:
	explicit SlowWriter(std::string root) : root_(std::move(root))
	{
		for (auto dir : {"overlay/RO", "overlay/l", "overlay-layers/RO", "overlay-images"})
			makeDirs(root_ + "/" + dir);
	}
	void pause() { std::this_thread::sleep_for(15ms); }
	std::string link(const std::string &id) { return id.substr(0, 26); }
	void layer(const std::string &id, const std::string &parent)
	{
		std::string o = root_ + "/overlay/RO/" + id;
		makeDirs(o);
		pause();
		makeDirs(o + "/diff");
		pause();
		writeFile(o + "/link", link(id));
		pause();
		if (parent.empty()) {
			makeDirs(o + "/empty");
		} else {
			std::string lower = "l/" + link(parent);
			if (lw::test::exists(root_ + "/overlay/RO/" + parent + "/lower"))
				lower += ":" + lw::test::readFile(root_ + "/overlay/RO/" + parent + "/lower");
			writeFile(o + "/lower", lower);
		}
		pause();
		std::string m = root_ + "/overlay-layers/RO/" + id;
		makeDirs(m);
		pause();
		writeFile(m + "/" + id + ".tar-split.gz", "gz");
		pause();
		LayerRecord r;
		r.id = id;
		r.parent = parent;
		writeFile(m + "/layer.json", toJson(r));
		pause();
	}
	void imageJson(const std::string &id, const std::string &top, std::vector<std::string> names)
	{
		std::string d = root_ + "/overlay-images/" + id;
		makeDirs(d);
		ImageRecord r;
		r.id = id;
		r.layer = top;
		r.names = std::move(names);
		r.bigDataNames = {"sha256:" + id, "manifest"};
		writeFile(d + "/images.json", toJson(r));
		pause();
	}
	void config(const std::string &id)
	{
		writeFile(root_ + "/overlay-images/" + id + "/" + bigDataFileName("sha256:" + id), "{}");
		pause();
	}
	// A base layer, one on it, and an image "busybox:latest" on that: all of it but
	// the image's manifest.
	void pullAllButManifest(const std::string &base, const std::string &top, const std::string &image)
	{
		layer(base, "");
		layer(top, base);
		imageJson(image, top, {"busybox:latest"});
		config(image);
	}
	void manifest(const std::string &id)
	{
		Manifest m;
		m.configDigest = "sha256:" + id;
		writeFile(root_ + "/overlay-images/" + id + "/manifest", toJson(m));
	}

private:
	std::string root_;
};

std::vector<std::string> order(const std::vector<EventLog::Entry> &all)
{
	std::vector<std::string> out;
	for (const auto &e : all)
		if (e.event.type != EventType::Pending && e.event.type != EventType::Ready)
			out.push_back(std::string(eventName(e.event.type)) + " " + e.event.id.substr(0, 4));
	return out;
}

std::string id4(const std::string &prefix)
{
	return prefix + lw::test::makeId().substr(prefix.size());
}

struct Running {
	EventLog log;
	std::unique_ptr<Watcher> watcher;
	Running(const std::string &root, WatcherOptions options = {})
	{
		options.root = root;
		if (options.mode == WatchMode::Auto)
			options.mode = lw::test::watchMode();
		auto created = Watcher::create(options, log.sink());
		REQUIRE_MESSAGE(created.ok(), created.error().message);
		watcher = std::move(*created);
		auto started = watcher->start();
		REQUIRE_MESSAGE(started.ok(), started.error().message);
		REQUIRE(log.waitForEvent(EventType::Ready));
	}
	~Running()
	{
		watcher->stop();
		watcher->join();
		CHECK(watcher->closed());
		CHECK(EventLog::find(log.entries(), EventType::Stopped, {}) >= 0);
	}
};

} // namespace

TEST_CASE("a pull in iSulad's order: layers parent-first, then one image, never before its manifest")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	SlowWriter w(root);
	Running run(root);
	std::string a = id4("aaaa"), b = id4("bbbb"), image = id4("cccc");
	w.pullAllButManifest(a, b, image);
	REQUIRE(run.log.waitForEvent(EventType::LayerAdded, b));
	// Everything but the manifest is there: the image must wait.
	REQUIRE(run.log.waitFor([&](const auto &all) {
		for (const auto &e : all)
			if (e.event.type == EventType::Pending && e.event.id == image && e.event.reason == "manifest: missing")
				return true;
		return false;
	}));
	CHECK(EventLog::find(run.log.entries(), EventType::ImageAdded, image) < 0);
	auto wrote = std::chrono::steady_clock::now();
	w.manifest(image);
	REQUIRE(run.log.waitForEvent(EventType::ImageAdded, image));
	auto all = run.log.entries();
	CHECK(order(all) == std::vector<std::string>{"layer_added aaaa", "layer_added bbbb", "image_added cccc"});
	auto added = all[static_cast<std::size_t>(EventLog::find(all, EventType::ImageAdded, image))];
	CHECK(added.at >= wrote);
	CHECK(added.event.source == lw::test::kernelEventSource());
	MESSAGE("manifest to image_added: " << std::chrono::duration<double, std::milli>(added.at - wrote).count() << " ms");
	auto snap = run.watcher->snapshot();
	CHECK(snap.imageByName("busybox:latest"));
	CHECK(snap.chain(image).size() == 2);
	CHECK(lw::test::readLinkAt(root + "/overlay/" + b) == "RO/" + b);
	auto stats = run.watcher->stats();
	CHECK(stats.kernelEvents > 0);
	CHECK(stats.batches > 0);
	if (lw::test::watchMode() == WatchMode::Fanotify) {
		CHECK(stats.watches == 0); // one mark for the filesystem, no watch per folder
		CHECK(stats.marks == 1);
	} else {
		CHECK(stats.watches >= 3);
		CHECK(stats.marks == 0);
	}
	CHECK(std::string(stats.backend) == lw::test::backendName());
}

TEST_CASE("the load's events carry their records, made as each is told, equal to the store's")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	SlowWriter w(root);
	std::string a = id4("aaaa"), b = id4("bbbb"), image = id4("cccc");
	w.pullAllButManifest(a, b, image);
	w.manifest(image);
	Running run(root); // the load reads them all in one batch
	auto all = run.log.entries();
	auto snap = run.watcher->snapshot();
	int layers = 0, images = 0;
	for (const auto &e : all) {
		if (e.event.type == EventType::LayerAdded) {
			++layers;
			REQUIRE(e.event.layer);
			REQUIRE(snap.layer(e.event.id));
			CHECK(*e.event.layer == *snap.layer(e.event.id));
			CHECK(e.event.layer->link == w.link(e.event.id));
		} else if (e.event.type == EventType::ImageAdded) {
			++images;
			REQUIRE(e.event.image);
			REQUIRE(snap.image(e.event.id));
			CHECK(*e.event.image == *snap.image(e.event.id));
			CHECK(e.event.image->names == std::vector<std::string>{"busybox:latest"});
			CHECK(e.event.image->topLayer == b);
		}
	}
	CHECK(layers == 2);
	CHECK(images == 1);
	CHECK(snap.layer(b)->parent == a);
}

TEST_CASE("an image before its layers is pending, then added; a tag rewrite is an update; removals in order")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	SlowWriter slow(root);
	std::string rw = lw::test::makeId();
	// A container's RW layer and its short link, which must survive everything.
	makeDirs(root + "/overlay/" + rw + "/diff");
	makeDirs(root + "/overlay-layers/" + rw);
	lw::test::makeSymlink("../" + rw + "/diff", root + "/overlay/l/" + std::string(26, 'w'));
	Running run(root);
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = id4("aaaa"), top = id4("bbbb");

	auto image = lw::test::unwrap(writer.publishImage({.topLayer = top, .names = {"app:1"}}));
	REQUIRE(run.log.waitFor([&](const auto &all) {
		for (const auto &e : all)
			if (e.event.type == EventType::Pending && e.event.id == image)
				return true;
		return false;
	}));
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.addLayer({.id = top, .parent = base}));
	REQUIRE(run.log.waitForEvent(EventType::ImageAdded, image));

	// A tag: images.json rewritten in place.
	std::size_t mark = run.log.size();
	ImageRecord record = lw::test::unwrap(parseImageJson(lw::test::readFile(root + "/overlay-images/" + image + "/images.json")));
	record.names.push_back("app:latest");
	writeFile(root + "/overlay-images/" + image + "/images.json", toJson(record));
	REQUIRE(run.log.waitForEvent(EventType::ImageUpdated, image, mark));
	CHECK(run.watcher->snapshot().imageByName("app:latest"));

	// Removal, as the writer does it: the image, then the layers.
	mark = run.log.size();
	lw::test::unwrap(writer.removeImage(image));
	lw::test::unwrap(writer.removeLayer(top));
	REQUIRE(run.log.waitForEvent(EventType::LayerRemoved, top, mark));
	auto all = run.log.entries();
	std::vector<EventLog::Entry> tail(all.begin() + static_cast<long>(mark), all.end());
	CHECK(order(tail) == std::vector<std::string>{"image_removed " + image.substr(0, 4), "layer_removed bbbb"});
	CHECK_FALSE(lw::test::exists(root + "/overlay/" + top));
	CHECK_FALSE(lw::test::exists(root + "/overlay-layers/" + top));
	CHECK(lw::test::readLinkAt(root + "/overlay/" + base) == "RO/" + base);
	CHECK(lw::test::readLinkAt(root + "/overlay/l/" + std::string(26, 'w')) == "../" + rw + "/diff");
	CHECK(lw::test::exists(root + "/overlay/" + rw + "/diff"));
}

TEST_CASE("attached to a host's loop: the loop closes with no handle left")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	SlowWriter w(root);
	std::string a = id4("aaaa");
	w.layer(a, "");
	uv_loop_t loop;
	REQUIRE(uv_loop_init(&loop) == 0);
	EventLog log;
	auto watcher = lw::test::unwrap(Watcher::create({.root = root, .mode = lw::test::watchMode()}, log.sink()));
	// attach() returns at once; the initial load comes on the loop, then Ready.
	lw::test::unwrap(watcher->attach(&loop));
	CHECK(EventLog::find(log.entries(), EventType::Ready, {}) < 0);
	CHECK(watcher->attach(&loop).error().code == EALREADY);
	auto deadline = std::chrono::steady_clock::now() + 10s;
	while (EventLog::find(log.entries(), EventType::Ready, {}) < 0 && std::chrono::steady_clock::now() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(EventLog::find(log.entries(), EventType::LayerAdded, a) >= 0);
	REQUIRE(EventLog::find(log.entries(), EventType::Ready, {}) >= 0);
	CHECK(log.entries().back().event.backend == lw::test::backendName());
	// The host's own timer does other work, then stops the watcher from the loop.
	uv_timer_t hostTimer;
	uv_timer_init(&loop, &hostTimer);
	hostTimer.data = watcher.get();
	uv_timer_start(&hostTimer, [](uv_timer_t *t) {
		static_cast<Watcher *>(t->data)->stop();
		uv_close(reinterpret_cast<uv_handle_t *>(t), nullptr);
	}, 50, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(watcher->closed());
	int handles = 0;
	uv_walk(&loop, [](uv_handle_t *, void *arg) { ++*static_cast<int *>(arg); }, &handles);
	CHECK(handles == 0);
	CHECK(uv_loop_close(&loop) == 0);
	CHECK(EventLog::find(log.entries(), EventType::Stopped, {}) >= 0);
}

TEST_CASE("poll mode finds changes by rescanning alone")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	SlowWriter w(root);
	Running run(root, {.mode = WatchMode::Poll, .intervalMs = 100});
	auto stats = run.watcher->stats();
	CHECK(stats.watches == 0);
	CHECK(stats.rescanned.values == std::array<bool, 3>{true, true, true});
	std::string a = id4("aaaa");
	w.layer(a, "");
	REQUIRE(run.log.waitForEvent(EventType::LayerAdded, a, 0, 3s));
	auto all = run.log.entries();
	CHECK(all[static_cast<std::size_t>(EventLog::find(all, EventType::LayerAdded, a))].event.source == EventSource::Rescan);
}

TEST_CASE("bad options are refused with a clear error")
{
	auto missing = Watcher::create({.root = "/nonexistent/layerwatch"}, nullptr);
	REQUIRE_FALSE(missing.ok());
	CHECK(missing.error().message == "root /nonexistent/layerwatch: missing");
	lw::test::TempDir tmp;
	CHECK_FALSE(Watcher::create({.root = tmp.path(), .intervalMs = 0}, nullptr).ok());
}

TEST_CASE("trees that appear after the start are rescanned, then watched")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::makeDirs(root);
	Running run(root, {.intervalMs = 200});
	CHECK(run.watcher->stats().rescanned.values == std::array<bool, 3>{true, true, true});
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string first = id4("aaaa");
	lw::test::unwrap(writer.addLayer({.id = first}));
	REQUIRE(run.log.waitForEvent(EventType::LayerAdded, first, 0, 3s));
	// Watched now (the timer tick that found the trees watched them first): the next
	// layer comes through the kernel source.
	CHECK(run.watcher->stats().rescanned.values == std::array<bool, 3>{false, false, false});
	std::string second = id4("bbbb");
	lw::test::unwrap(writer.addLayer({.id = second}));
	REQUIRE(run.log.waitForEvent(EventType::LayerAdded, second, 0, 3s));
	auto all = run.log.entries();
	CHECK(all[static_cast<std::size_t>(EventLog::find(all, EventType::LayerAdded, second))].event.source == lw::test::kernelEventSource());
}

TEST_CASE("a trusted generation file makes an idle tick one stat; a full rescan still comes")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = id4("aaaa");
	lw::test::unwrap(writer.addLayer({.id = base}));
	Running run(root, {.mode = WatchMode::Poll, .intervalMs = 50, .trustGeneration = true, .fullRescanMs = 1500});
	// Idle: ticks are skipped, rescans do not grow.
	auto before = run.watcher->stats();
	std::this_thread::sleep_for(400ms);
	auto idle = run.watcher->stats();
	CHECK(idle.generationSkips >= before.generationSkips + 3);
	CHECK(idle.rescans <= before.rescans + 1);

	// The writer bumps the file: the next tick rescans and finds the image.
	std::size_t mark = run.log.size();
	auto image = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"gen:1"}}));
	REQUIRE(run.log.waitForEvent(EventType::ImageAdded, image, mark, 1s));

	// A writer that does not bump: found by the safety rescan, not before.
	SlowWriter raw(root);
	std::string quiet = id4("cccc");
	auto start = std::chrono::steady_clock::now();
	raw.imageJson(quiet, base, {"quiet:1"});
	raw.config(quiet);
	raw.manifest(quiet);
	REQUIRE(run.log.waitForEvent(EventType::ImageAdded, quiet, mark, 3s));
	CHECK(std::chrono::steady_clock::now() - start <= 1500ms + 500ms);
}

namespace {

// overlay-images was made anew: an image published in it is found, and once the tree
// is watched again (not only rescanned), the next one comes through the kernel source.
void checkImagesFoundAgain(Running &run, StoreWriter &writer, const std::string &base, std::size_t mark)
{
	std::string layer = id4("bbbb");
	lw::test::unwrap(writer.addLayer({.id = layer, .parent = base}));
	auto second = lw::test::unwrap(writer.publishImage({.topLayer = layer, .names = {"second:1"}}));
	REQUIRE(run.log.waitForEvent(EventType::ImageAdded, second, mark, 5s));
	REQUIRE(lw::test::eventually([&] { return !run.watcher->stats().rescanned[TreeId::Images]; }, 5s));
	std::string layer3 = id4("cccc");
	lw::test::unwrap(writer.addLayer({.id = layer3, .parent = base}));
	auto third = lw::test::unwrap(writer.publishImage({.topLayer = layer3, .names = {"third:1"}}));
	REQUIRE(run.log.waitForEvent(EventType::ImageAdded, third, mark, 5s));
	auto all = run.log.entries();
	CHECK(all[static_cast<std::size_t>(EventLog::find(all, EventType::ImageAdded, third))].event.source ==
	      lw::test::kernelEventSource());
}

} // namespace

TEST_CASE("a tree moved away and made anew is watched again by path: a new image in it is found")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = id4("aaaa");
	lw::test::unwrap(writer.addLayer({.id = base}));
	auto first = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"first:1"}}));
	Running run(root, {.intervalMs = 100});
	REQUIRE(run.watcher->snapshot().image(first));

	std::size_t mark = run.log.size();
	REQUIRE(::rename((root + "/overlay-images").c_str(), (root + "/images-elsewhere").c_str()) == 0);
	// Gone from the tree: its image goes (a look by name agrees), and the tree is lost.
	REQUIRE(run.log.waitForEvent(EventType::ImageRemoved, first, mark));
	REQUIRE(run.log.waitFor([&](const auto &all) {
		for (std::size_t i = mark; i < all.size(); ++i)
			if (all[i].event.type == EventType::Resync && all[i].event.tree == TreeId::Images)
				return true;
		return false;
	}));
	makeDirs(root + "/overlay-images");
	checkImagesFoundAgain(run, writer, base, mark);
}

TEST_CASE("a store moved away, another made at its path: a tree of the moved one made anew is watched through the root's handle")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s", moved = tmp / "moved";
	std::string base = id4("aaaa");
	std::string first;
	{
		auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
		lw::test::unwrap(writer.addLayer({.id = base}));
		first = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"first:1"}}));
	}
	Running run(root, {.intervalMs = 100});
	REQUIRE(run.watcher->snapshot().image(first));

	std::size_t mark = run.log.size();
	REQUIRE(::rename(root.c_str(), moved.c_str()) == 0);
	std::string other = lw::test::storeWithOneImage(root); // not ours: never told
	REQUIRE(::rename((moved + "/overlay-images").c_str(), (moved + "/images-elsewhere").c_str()) == 0);
	REQUIRE(run.log.waitForEvent(EventType::ImageRemoved, first, mark));
	makeDirs(moved + "/overlay-images");
	auto writer = lw::test::unwrap(StoreWriter::open(moved, {.durable = false, .makeLinks = false}));
	checkImagesFoundAgain(run, writer, base, mark);
	CHECK(EventLog::find(run.log.entries(), EventType::ImageAdded, other, mark) < 0);
}

TEST_CASE("removing a layer tells no pending for what is left of it on its way out")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = id4("aaaa"), top = id4("bbbb");
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.addLayer({.id = top, .parent = base}));
	Running run(root);
	std::size_t mark = run.log.size();
	lw::test::unwrap(writer.removeLayerMetadata(top));
	REQUIRE(run.log.waitForEvent(EventType::LayerRemoved, top, mark));
	lw::test::unwrap(writer.removeOverlay(top));
	REQUIRE(lw::test::eventually([&] { return run.watcher->stats().pending == 0; }, 5s));
	auto all = run.log.entries();
	CHECK(EventLog::find(all, EventType::Pending, top, mark) < 0);
}

// The C API from outside: a client written only against the seed's functions, and
// the example host daemon driven by signals.
#include "child_process.h"
#include "test_support.h"

#include <layerwatch/layerwatch.h>
#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <signal.h>

using namespace lw;
using namespace std::chrono_literals;

TEST_CASE("a C client of the seed's eight functions publishes, and the refresh thread commits it")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	for (auto dir : {"overlay", "overlay-layers", "overlay-images"})
		lw::test::makeDirs(root + "/" + dir);
	std::string layer = lw::test::makeId(), image = lw::test::makeId();
	lw::test::ChildProcess client({SEED_CLIENT, root, layer, image});
	std::string line;
	CHECK(client.readLine(line, 20s));
	CHECK(line == "seed client: done");
	CHECK(client.wait(10s) == 0);

	// What it built is what iSulad builds: a relative link into RO/, the data in RO/.
	CHECK(lw::test::readLinkAt(root + "/overlay/" + layer) == "RO/" + layer);
	CHECK(lw::test::readLinkAt(root + "/overlay-layers/" + layer) == "RO/" + layer);
	auto report = lw::test::unwrap(scanStore(root));
	REQUIRE(report.images.size() == 1);
	CHECK(report.images[0].image->id == image);
	CHECK(report.images[0].image->names == std::vector<std::string>{"seed:latest"});
	CHECK(report.pending.empty());
}

TEST_CASE("the host daemon lists a published image on SIGUSR1 and stops cleanly on SIGTERM")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "storage";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	lw::test::ChildProcess daemon({HOST_DAEMON, root});
	std::string line;
	bool ready = false;
	while (!ready && daemon.readLine(line, 10s))
		ready = line.rfind("event ready", 0) == 0;
	REQUIRE(ready);

	std::string layer = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = layer}));
	auto image = lw::test::unwrap(writer.publishImage({.topLayer = layer, .names = {"daemon-test:1"}}));
	bool added = false;
	while (!added && daemon.readLine(line, 10s))
		added = line.rfind("event image_added " + image, 0) == 0;
	REQUIRE(added);

	REQUIRE(::kill(daemon.pid(), SIGUSR1) == 0);
	bool listed = false;
	while (!listed && daemon.readLine(line, 10s))
		listed = line == "image " + image + " layers=1 daemon-test:1";
	CHECK(listed);

	REQUIRE(::kill(daemon.pid(), SIGTERM) == 0);
	bool stoppedEvent = false, closedLoop = false;
	while (daemon.readLine(line, 10s)) {
		stoppedEvent = stoppedEvent || line == "event stopped";
		if (line.rfind("host_daemon: stopped after", 0) == 0) {
			closedLoop = line.find("loop closed") != std::string::npos;
			break;
		}
	}
	CHECK(stoppedEvent);
	CHECK(closedLoop);
	CHECK(daemon.wait(10s) == 0);
}

TEST_CASE("lw_options.local_rescan_ms: a local store is listed again that often, none by default")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	lw_options options;
	lw_options_init(&options);
	CHECK(options.local_rescan_ms == 0);
	options.root = root.c_str();
	options.mode = LW_MODE_INOTIFY;
	options.local_rescan_ms = 150;
	lw_watcher *w = nullptr;
	REQUIRE(lw_create(&options, &w) == 0);
	REQUIRE(lw_start(w) == 0);
	lw_stats stats;
	stats.size = sizeof stats;
	// The load is one listing of each tree; a rescan every 150 ms, several more.
	CHECK(lw::test::eventually([&] { return lw_get_stats(w, &stats) == 0 && stats.rescans >= 4; }, 10s));
	CHECK(lw_stop(w) == 0);
	CHECK(lw_join(w) == 0);
	lw_destroy(w);
}

TEST_CASE("lw_layer_get, lw_pending_list and lw_last_error tell a C host what the watcher knows")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId(), top = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base, .names = {"base"}}));
	// top names a parent that is not there: pending, with its reason.
	lw::test::unwrap(writer.addLayer({.id = top, .parent = base}));
	lw::test::unwrap(writer.removeLayer(base));
	lw::test::unwrap(writer.addLayer({.id = base, .names = {"base"}}));
	std::string orphan = lw::test::makeId();
	lw::test::makeDirs(root + "/overlay-layers/RO/" + orphan); // pending: no files

	CHECK(std::string(lw_version()) == LW_VERSION_STRING);
	lw_options options;
	lw_options_init(&options);
	CHECK(options.size == sizeof options);
	options.root = root.c_str();
	lw_watcher *w = nullptr;
	REQUIRE(lw_create(&options, &w) == 0);
	REQUIRE(lw_start(w) == 0);
	lw_stats stats;
	REQUIRE(lw::test::eventually([&] { return lw_get_stats(w, &stats) == 0 && stats.pending >= 1 && stats.size == sizeof stats; },
				      10s));
	// Auto: fanotify where this process may have it (one mark, no watch), else inotify.
	std::string backend = stats.backend;
	CHECK((backend == "fanotify" || backend == "inotify"));
	CHECK((backend == "fanotify") == (stats.marks >= 1 && stats.watches == 0));
	CHECK(stats.remote_calls == 0); // a local store: no call is a server's

	lw_layer *layer = nullptr;
	REQUIRE(lw_layer_get(w, base.c_str(), &layer) == 0);
	CHECK(std::string(layer->id) == base);
	CHECK(std::string(layer->parent).empty());
	CHECK(std::string(layer->link).size() == 26);
	REQUIRE(layer->names_len == 1);
	CHECK(std::string(layer->names[0]) == "base");
	lw_layer_free(layer);
	CHECK(lw_layer_get(w, orphan.c_str(), &layer) == -ENOENT);
	CHECK(std::string(lw_last_error()) == "no layer " + orphan);
	CHECK(layer == nullptr);

	lw_pending *items = nullptr;
	size_t count = 0;
	REQUIRE(lw_pending_list(w, &items, &count) == 0);
	bool orphanListed = false;
	for (size_t i = 0; i < count; ++i)
		if (std::string(items[i].id) == orphan) {
			orphanListed = true;
			CHECK(std::string(items[i].kind) == "layer");
			CHECK(std::string(items[i].reason).rfind("overlay: missing", 0) == 0);
		}
	CHECK(orphanListed);
	lw_pending_list_free(items, count);
	CHECK(std::string(lw_last_error()).empty());

	CHECK(lw_stop(w) == 0);
	CHECK(lw_join(w) == 0);
	lw_destroy(w);
}

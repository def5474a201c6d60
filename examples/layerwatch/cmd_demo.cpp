// `layerwatch demo`: the embedded default. A temporary store, a writer publishing
// into it step by step (one image before its layers), and layerwatch reading it
// after each step. Cleans up and exits 0.
#include "commands.h"

#include <layerwatch/scan.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace lwcli {

namespace {

std::string randomId(std::mt19937_64 &rng)
{
	static constexpr char kHex[] = "0123456789abcdef";
	std::string id(64, '0');
	for (auto &c : id)
		c = kHex[rng() % 16];
	return id;
}

// Reads the store as a reader host would, and says what it sees.
bool look(const std::string &root, const std::string &step)
{
	auto start = std::chrono::steady_clock::now();
	auto report = lw::scanStore(root);
	double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
	if (!report) {
		std::fprintf(stderr, "layerwatch demo: %s\n", report.error().message.c_str());
		return false;
	}
	std::printf("\n== %s\n   reader sees %zu images, %zu layers, %zu pending (scan %.2f ms)\n", step.c_str(),
		    report->images.size(), report->layers.size(), report->pending.size(), ms);
	for (const auto &[image, chain] : report->images)
		std::printf("   image   %.12s  %-24s %zu layers\n", image->id.c_str(),
			    image->names.empty() ? "-" : image->names.front().c_str(), chain.size());
	for (const auto &p : report->pending)
		std::printf("   pending %-7s %.12s  %s\n", p.kind.c_str(), p.id.c_str(), p.reason.c_str());
	return true;
}

} // namespace

int runDemo(const Args &args)
{
	for (const auto &a : args) {
		if (a == "--help" || a == "-h") {
			std::fputs("usage: layerwatch demo\n\nMakes a temporary store, publishes images into it "
				   "as a pulling host would, and shows what a reader sees after each step.\n",
				   stdout);
			return 0;
		}
		return usageError("demo", fmt::format("unknown argument '{}'", a));
	}
	std::string base = std::filesystem::temp_directory_path() / "layerwatch-demo-XXXXXX";
	if (!::mkdtemp(base.data())) {
		std::perror("layerwatch demo: mkdtemp");
		return 1;
	}
	std::string root = base + "/storage";
	std::printf("layerwatch demo: store at %s\n", root.c_str());
	std::mt19937_64 rng(std::random_device{}());
	int status = 0;
	auto fail = [&](const lw::Error &e) {
		std::fprintf(stderr, "layerwatch demo: %s\n", e.message.c_str());
		status = 1;
	};
	do {
		auto writer = lw::StoreWriter::open(root, {.durable = false});
		if (!writer) {
			fail(writer.error());
			break;
		}
		// busybox: one layer, published in iSulad's order.
		std::string busyLayer = randomId(rng);
		if (auto r = writer->addLayer({.id = busyLayer}); !r) {
			fail(r.error());
			break;
		}
		auto busybox = writer->publishImage({.topLayer = busyLayer, .names = {"busybox:latest"}});
		if (!busybox) {
			fail(busybox.error());
			break;
		}
		if (!look(root, "published busybox (1 layer)"))
			break;

		// nginx: its image arrives before its layers, as over a slow share.
		std::string nginxBase = randomId(rng), nginxTop = randomId(rng);
		auto nginx = writer->publishImage({.topLayer = nginxTop, .names = {"nginx:1.25"}});
		if (!nginx) {
			fail(nginx.error());
			break;
		}
		if (!look(root, "nginx's image arrived before its layers"))
			break;
		if (auto r = writer->addLayer({.id = nginxBase}); !r) {
			fail(r.error());
			break;
		}
		if (auto r = writer->addLayer({.id = nginxTop, .parent = nginxBase}); !r) {
			fail(r.error());
			break;
		}
		if (!look(root, "nginx's two layers arrived"))
			break;

		// busybox removed: the image first, then its layer.
		if (auto r = writer->removeImage(*busybox); !r) {
			fail(r.error());
			break;
		}
		if (auto r = writer->removeLayer(busyLayer); !r) {
			fail(r.error());
			break;
		}
		if (!look(root, "busybox removed (image, then its layer)"))
			break;
	} while (false);
	std::error_code ec;
	std::filesystem::remove_all(base, ec);
	std::printf("\nlayerwatch demo: %s, temporary store removed\n", status == 0 ? "done" : "failed");
	return status;
}

} // namespace lwcli

// The shared trees mounted read-only at a reader's root, as another host's NFS export
// would be: the reader loads, follows removals, and writes only local links. Needs
// root (a private mount namespace); skipped (77) where it cannot have one.
#include "test_support.h"
#include "store_state.h"

#include "reconciler.h"
#include "root.h"

#include <layerwatch/writer.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

using namespace lw;

namespace {

void bindReadOnly(const std::string &from, const std::string &to)
{
	lw::test::makeDirs(to);
	REQUIRE(::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr) == 0);
	REQUIRE(::mount(nullptr, to.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) == 0);
}

} // namespace

int main(int argc, char **argv)
{
	// Mounts made in a namespace of our own vanish with the process: nothing to undo.
	if (::geteuid() != 0 || ::unshare(CLONE_NEWNS) != 0 ||
	    ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
		lw::test::skipTest("needs root and a mount namespace");
	doctest::Context context(argc, argv);
	return context.run();
}

TEST_CASE("a reader over read-only shared trees writes only its local links")
{
	lw::test::TempDir tmp;
	std::string writerRoot = tmp / "writer", readerRoot = tmp / "reader";
	auto writer = lw::test::unwrap(StoreWriter::open(writerRoot, {.durable = false}));
	std::string base = lw::test::makeId(), top = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	lw::test::unwrap(writer.addLayer({.id = top, .parent = base}));
	auto image = lw::test::unwrap(writer.publishImage({.topLayer = top, .names = {"app:1"}}));

	bindReadOnly(writerRoot + "/overlay/RO", readerRoot + "/overlay/RO");
	bindReadOnly(writerRoot + "/overlay-layers/RO", readerRoot + "/overlay-layers/RO");
	bindReadOnly(writerRoot + "/overlay-images", readerRoot + "/overlay-images");
	// The mounts really are read-only.
	CHECK(::mkdir((readerRoot + "/overlay/RO/probe").c_str(), 0755) == -1);
	CHECK(errno == EROFS);
	auto sharedBefore = lw::test::snapshotTree(writerRoot + "/overlay/RO");

	auto rootFd = lw::test::unwrap(openRoot(readerRoot));
	Store store;
	Reconciler reader(rootFd.get(), store);
	auto events = reader.initialLoad();
	for (const auto &e : events)
		CHECK_MESSAGE(e.type != EventType::Error, e.message);
	auto snap = store.snapshot();
	CHECK(snap.imageCount() == 1);
	CHECK(snap.chain(image).size() == 2);
	CHECK(lw::test::readLinkAt(readerRoot + "/overlay/" + top) == "RO/" + top);
	CHECK(lw::test::readLinkAt(readerRoot + "/overlay-layers/" + base) == "RO/" + base);
	CHECK(lw::test::snapshotTree(writerRoot + "/overlay/RO") == sharedBefore);

	// The writer removes the image and its top layer; the reader follows.
	lw::test::unwrap(writer.removeImage(image));
	lw::test::unwrap(writer.removeLayer(top));
	events = reader.rescan();
	std::vector<std::string> order;
	for (const auto &e : events) {
		CHECK_MESSAGE(e.type != EventType::Error, e.message);
		if (e.type != EventType::Pending)
			order.push_back(eventName(e.type));
	}
	CHECK(order == std::vector<std::string>{"image_removed", "layer_removed"});
	CHECK_FALSE(lw::test::exists(readerRoot + "/overlay/" + top));
	CHECK_FALSE(lw::test::exists(readerRoot + "/overlay-layers/" + top));
	CHECK(lw::test::readLinkAt(readerRoot + "/overlay/" + base) == "RO/" + base);
	CHECK(store.snapshot().layerCount() == 1);
}

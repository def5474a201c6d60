// An idle rescan reads no file: it lists the trees and stats; only ids whose
// identity changed are read again.
#include "test_support.h"

#include "root.h"
#include "sys.h"
#include "validator.h"

#include <layerwatch/writer.h>

using namespace lw;

namespace {

int g_opens = 0;
int countingOpenat(int dirfd, const char *path, int flags, mode_t mode)
{
	++g_opens;
	return ::openat(dirfd, path, flags, mode);
}
int countingOpenat2(int, const char *, int, mode_t)
{
	++g_opens;
	errno = ENOSYS; // and let the walk (counted above) do the work
	return -1;
}

} // namespace

TEST_CASE("an idle rescan opens only the three trees and their listings")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string parent;
	for (int i = 0; i < 20; ++i) {
		std::string id = lw::test::makeId();
		lw::test::unwrap(writer.addLayer({.id = id, .parent = parent}));
		(void)lw::test::unwrap(writer.publishImage({.topLayer = id, .names = {"n" + std::to_string(i)}}));
		parent = id;
	}
	auto rootFd = lw::test::unwrap(openRoot(root));
	Validator validator(rootFd.get());
	Touched first = validator.rescan();
	CHECK(first.images.size() == 20);

	sys::ScopedOp a(&sys::Ops::openat, &countingOpenat);
	sys::ScopedOp b(&sys::Ops::openat2Beneath, &countingOpenat2);
	g_opens = 0;
	Touched idle = validator.rescan();
	CHECK(idle.empty());
	// Three trees: each opened (openat2, refused here, then the walk) and listed
	// through a fresh fd: about three opens a tree, never one per item.
	CHECK(g_opens <= 12);

	// One changed image is read again, and only it.
	std::string someImage = first.images.begin()->hex();
	lw::test::writeFile(root + "/overlay-images/" + someImage + "/images.json",
			    lw::test::readFile(root + "/overlay-images/" + someImage + "/images.json"));
	Touched one = validator.rescan();
	REQUIRE(one.images.size() == 1);
	CHECK(one.images.begin()->hex() == someImage);
	CHECK(one.layers.empty());
}

TEST_CASE("a large batch is read on several threads and lands whole")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string parent;
	for (int i = 0; i < 300; ++i) {
		std::string id = lw::test::makeId();
		// Chains of ten; the sixth of each broken, so that each result must land on
		// its own id: per chain 5 ready, 1 broken, 4 waiting on it.
		lw::test::unwrap(writer.addLayer({.id = id, .parent = i % 10 == 0 ? std::string() : parent}));
		if (i % 10 == 5)
			lw::test::removeAll(root + "/overlay-layers/RO/" + id + "/" + id + ".tar-split.gz");
		parent = id;
	}
	auto rootFd = lw::test::unwrap(openRoot(root));
	Validator validator(rootFd.get());
	Touched touched = validator.rescan();
	CHECK(touched.layers.size() == 300);
	int ready = 0, broken = 0, waiting = 0;
	for (const Id &key : touched.layers) {
		std::string id = key.hex();
		const Verdict *v = validator.layerVerdict(id);
		REQUIRE(v);
		CHECK(validator.layer(id)->info.id() == id);
		if (v->ready)
			++ready;
		else if (v->reason == id + ".tar-split.gz: missing")
			++broken;
		else if (v->reason.str().find("layer.json: parent ") == 0)
			++waiting;
	}
	CHECK(ready == 150);
	CHECK(broken == 30);
	CHECK(waiting == 120);
}

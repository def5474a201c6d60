// The fanotify backend against the real kernel: handles registered by path match the
// handles events carry; folders the store does not follow are dropped; a lost tree is
// told. And every way fanotify can be refused (through the syscall seam): auto falls
// back to inotify and says why, fanotify by name fails at create() with why. Skipped
// (77) where fanotify cannot be had.
#include "event_log.h"
#include "fanotify_source.h"
#include "sys.h"
#include "test_support.h"

#include <layerwatch/watcher.h>
#include <layerwatch/writer.h>

#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

using namespace lw;
using lw::test::EventLog;
using namespace std::chrono_literals;

namespace {

// A source on a fresh store, and what it told.
struct Heard {
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	std::vector<std::pair<Tree, std::string>> changed;
	std::vector<std::pair<Tree, ResyncReason>> stale;
	std::unique_ptr<FanotifySource> source;

	Heard()
	{
		for (auto dir : {"overlay/RO", "overlay-layers/RO", "overlay-images"})
			lw::test::makeDirs(root + "/" + dir);
		lw::test::makeDirs(tmp / "outside");
		source = lw::test::unwrap(FanotifySource::open(
			root, {[this](Tree t, const std::string &id) { changed.emplace_back(t, id); },
			       [this](Tree t, ResyncReason r) { stale.emplace_back(t, r); }}));
	}
	bool heard(Tree tree, const std::string &id) const
	{
		return std::find(changed.begin(), changed.end(), std::make_pair(tree, id)) != changed.end();
	}
	// Drains until cond holds, for at most the deadline.
	bool waitFor(const std::function<bool()> &cond, std::chrono::milliseconds timeout = 5s)
	{
		auto until = std::chrono::steady_clock::now() + timeout;
		while (!cond()) {
			if (std::chrono::steady_clock::now() > until)
				return false;
			struct pollfd p = {source->fd(), POLLIN, 0};
			::poll(&p, 1, 50);
			REQUIRE(source->drain(4096) >= 0);
		}
		return true;
	}
	// Everything queued before now is read: a new folder in the tree is the sentinel.
	void settle()
	{
		std::string sentinel = lw::test::makeId();
		lw::test::makeDirs(root + "/overlay-images/" + sentinel);
		REQUIRE(waitFor([&] { return heard(Tree::Images, sentinel); }));
	}
	std::string images(const std::string &rel) const { return root + "/overlay-images/" + rel; }
};

} // namespace

TEST_CASE("a registered folder's handle is the one its events carry; other folders cost a lookup")
{
	Heard h;
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images})
		lw::test::unwrap(h.source->watchTree(tree));
	// One filesystem, one mark; not one watch.
	CHECK(h.source->markCount() == 1);
	CHECK(h.source->watchCount() == 0);

	std::string followed = lw::test::makeId(), unfollowed = lw::test::makeId();
	lw::test::makeDirs(h.images(followed));
	lw::test::makeDirs(h.images(unfollowed));
	REQUIRE(h.waitFor([&] { return h.heard(Tree::Images, followed) && h.heard(Tree::Images, unfollowed); }));
	lw::test::unwrap(h.source->watchItem(Tree::Images, followed));
	CHECK(h.source->itemWatched(Tree::Images, followed));
	CHECK(h.source->itemWatchCount(Tree::Images) == 1);

	h.changed.clear();
	lw::test::writeFile(h.images(followed + "/manifest"), "{}");
	REQUIRE(h.waitFor([&] { return h.heard(Tree::Images, followed); }));

	// Writes in a folder not followed, and outside the store on the same filesystem:
	// nothing is told for them.
	h.changed.clear();
	lw::test::writeFile(h.images(unfollowed + "/manifest"), "{}");
	lw::test::writeFile(h.tmp / "outside/file", "x");
	h.settle();
	CHECK_FALSE(h.heard(Tree::Images, unfollowed));
	CHECK(h.changed.size() == 1); // the sentinel alone

	// Unfollowed: its writes are dropped too.
	h.source->unwatchItem(Tree::Images, followed);
	CHECK(h.source->itemWatchCount(Tree::Images) == 0);
	h.changed.clear();
	lw::test::writeFile(h.images(followed + "/manifest"), "{\"again\":1}");
	h.settle();
	CHECK_FALSE(h.heard(Tree::Images, followed));
}

TEST_CASE("an item folder on a filesystem of its own (a tmpfs mounted in the tree) is heard, as inotify hears it")
{
	Heard h;
	lw::test::unwrap(h.source->watchTree(Tree::Images));
	std::string id = lw::test::makeId();
	lw::test::makeDirs(h.images(id));
	REQUIRE(::mount("lw-test", h.images(id).c_str(), "tmpfs", 0, "size=1m") == 0);
	struct Unmount {
		std::string path;
		~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
	} unmount{h.images(id)};
	lw::test::unwrap(h.source->watchItem(Tree::Images, id));
	CHECK(h.source->markCount() == 2);
	h.settle(); // the folder's own making, heard on the tree's filesystem, is past
	h.changed.clear();
	lw::test::writeFile(h.images(id + "/images.json"), "{}"); // a tag moved, on the tmpfs
	CHECK(h.waitFor([&] { return h.heard(Tree::Images, id); }));
}

TEST_CASE("an item folder deleted is told and forgotten; a tree moved away is lost, then followed again")
{
	Heard h;
	lw::test::unwrap(h.source->watchTree(Tree::Images));
	std::string id = lw::test::makeId();
	lw::test::makeDirs(h.images(id));
	lw::test::unwrap(h.source->watchItem(Tree::Images, id));
	h.changed.clear();
	lw::test::removeAll(h.images(id));
	REQUIRE(h.waitFor([&] { return !h.source->itemWatched(Tree::Images, id); }));
	CHECK(h.heard(Tree::Images, id));

	REQUIRE(::rename(h.images("").c_str(), (h.root + "/images-elsewhere").c_str()) == 0);
	REQUIRE(h.waitFor([&] { return !h.stale.empty(); }));
	CHECK(h.stale.front() == std::make_pair(Tree::Images, ResyncReason::WatchLost));
	CHECK_FALSE(h.source->treeWatched(Tree::Images));
	// Events in the moved folder are no longer the store's.
	h.changed.clear();
	lw::test::makeDirs(h.root + "/images-elsewhere/" + lw::test::makeId());
	lw::test::makeDirs(h.images(""));
	lw::test::unwrap(h.source->watchTree(Tree::Images));
	h.settle();
	CHECK(h.changed.size() == 1);
}

namespace {

// The watcher's log lines, kept.
struct Logged {
	std::mutex mutex;
	std::vector<std::string> lines;
	std::function<void(LogLevel, const std::string &)> sink()
	{
		return [this](LogLevel, const std::string &m) {
			std::lock_guard lock(mutex);
			lines.push_back(m);
		};
	}
	bool has(const std::string &needle)
	{
		std::lock_guard lock(mutex);
		return std::any_of(lines.begin(), lines.end(),
				   [&](const std::string &l) { return l.find(needle) != std::string::npos; });
	}
};

int failWith(int code)
{
	errno = code;
	return -1;
}

// Runs auto mode on a store with one image and returns the backend its ready told.
std::string autoBackend(Logged &logged)
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	std::string image = lw::test::storeWithOneImage(root);
	EventLog log;
	auto w = lw::test::unwrap(Watcher::create({.root = root, .log = logged.sink()}, log.sink()));
	lw::test::unwrap(w->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	CHECK(w->snapshot().image(image));
	auto all = log.entries();
	std::string backend = all[static_cast<std::size_t>(EventLog::find(all, EventType::Ready, {}))].event.backend;
	CHECK(std::string(w->stats().backend) == backend);
	w->stop();
	w->join();
	return backend;
}

} // namespace

TEST_CASE("auto takes fanotify where it may be had, else inotify, and says why")
{
	Logged plain;
	CHECK(autoBackend(plain) == "fanotify");

	using InitFn = int (*)(unsigned, unsigned);
	using MarkFn = int (*)(int, unsigned, unsigned long long, int, const char *);
	using HandleFn = int (*)(int, const char *, struct file_handle *, int *, int);
	SUBCASE("no CAP_SYS_ADMIN")
	{
		sys::ScopedOp<InitFn> op(&sys::Ops::fanotifyInit, [](unsigned, unsigned) { return failWith(EPERM); });
		Logged logged;
		CHECK(autoBackend(logged) == "inotify");
		CHECK(logged.has("fanotify_init: Operation not permitted (needs CAP_SYS_ADMIN): using inotify"));
	}
	SUBCASE("a kernel without names")
	{
		sys::ScopedOp<InitFn> op(&sys::Ops::fanotifyInit, [](unsigned, unsigned) { return failWith(EINVAL); });
		Logged logged;
		CHECK(autoBackend(logged) == "inotify");
		CHECK(logged.has("names need Linux 5.9"));
	}
	SUBCASE("a filesystem without file handles, or a subvolume, or out of marks")
	{
		for (int code : {ENODEV, EOPNOTSUPP, EXDEV, ENOSPC}) {
			static int injected;
			injected = code;
			sys::ScopedOp<MarkFn> op(&sys::Ops::fanotifyMark,
						 [](int, unsigned, unsigned long long, int, const char *) {
							 return failWith(injected);
						 });
			Logged logged;
			CHECK(autoBackend(logged) == "inotify");
			CHECK(logged.has("fanotify mark on "));
			CHECK(logged.has(std::strerror(code)));
		}
	}
	SUBCASE("one tree's folder gives no handle: every tree goes to inotify")
	{
		sys::ScopedOp<HandleFn> op(&sys::Ops::nameToHandleAt,
					   [](int dirfd, const char *path, struct file_handle *h, int *mount, int flags) {
						   if (std::string(path).ends_with("/overlay-images"))
							   return failWith(EOPNOTSUPP);
						   return ::name_to_handle_at(dirfd, path, h, mount, flags);
					   });
		Logged logged;
		CHECK(autoBackend(logged) == "inotify");
		CHECK(logged.has("overlay-images: Operation not supported: using inotify"));
	}
	SUBCASE("file handles refused")
	{
		sys::ScopedOp<HandleFn> op(&sys::Ops::nameToHandleAt,
					   [](int, const char *, struct file_handle *, int *, int) { return failWith(EOPNOTSUPP); });
		Logged logged;
		CHECK(autoBackend(logged) == "inotify");
		CHECK(logged.has("file handle of"));
	}
}

TEST_CASE("fanotify by name: refused at create() with why, never a silent inotify")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	using InitFn = int (*)(unsigned, unsigned);
	sys::ScopedOp<InitFn> op(&sys::Ops::fanotifyInit, [](unsigned, unsigned) { return failWith(EPERM); });
	auto created = Watcher::create({.root = root, .mode = WatchMode::Fanotify}, nullptr);
	REQUIRE_FALSE(created.ok());
	CHECK(created.error().code == EPERM);
	CHECK(created.error().message == "fanotify_init: Operation not permitted (needs CAP_SYS_ADMIN)");
	// Inotify by name is untouched by it.
	CHECK(Watcher::create({.root = root, .mode = WatchMode::Inotify}, nullptr).ok());
}

TEST_CASE("fanotify by name, a tree whose handle cannot be had: that tree is rescanned, and told")
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	auto writer = lw::test::unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = lw::test::makeId();
	lw::test::unwrap(writer.addLayer({.id = base}));
	using HandleFn = int (*)(int, const char *, struct file_handle *, int *, int);
	sys::ScopedOp<HandleFn> op(&sys::Ops::nameToHandleAt,
				   [](int dirfd, const char *path, struct file_handle *h, int *mount, int flags) {
					   if (std::string(path).ends_with("/overlay-images"))
						   return failWith(ESTALE);
					   return ::name_to_handle_at(dirfd, path, h, mount, flags);
				   });
	Logged logged;
	EventLog log;
	auto w = lw::test::unwrap(Watcher::create(
		{.root = root, .mode = WatchMode::Fanotify, .intervalMs = 100, .log = logged.sink()}, log.sink()));
	lw::test::unwrap(w->start());
	REQUIRE(log.waitForEvent(EventType::Ready));
	CHECK(w->stats().rescanned.values == std::array<bool, 3>{false, false, true});
	CHECK(logged.has("overlay-images: file handle of"));
	CHECK(logged.has("rescanning it every 100 ms instead"));
	auto image = lw::test::unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));
	REQUIRE(log.waitForEvent(EventType::ImageAdded, image, 0, 3s));
	w->stop();
	w->join();
}

// Needs root, to run the program as nobody (setpriv): skipped (told as such) without.
TEST_CASE("watch --mode fanotify without CAP_SYS_ADMIN exits 1 saying why" *
	  doctest::skip(::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0))
{
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	lw::test::storeWithOneImage(root);
	REQUIRE(lw::test::run("chmod -R a+rX " + tmp.path()) == 0);
	std::string err = tmp / "stderr";
	int status = lw::test::run("setpriv --reuid=65534 --regid=65534 --clear-groups " LAYERWATCH " watch --root " + root +
				   " --mode fanotify 2>" + err);
	CHECK(status == 1);
	std::string said = lw::test::readFile(err);
	CHECK(said.find("layerwatch watch: fanotify") == 0);
	CHECK(said.find("needs CAP_SYS_ADMIN") != std::string::npos);
}

int main(int argc, char **argv)
{
	lw::test::skipUnlessFanotify();
	doctest::Context context(argc, argv);
	return context.run();
}

TEST_CASE("item folders whose handles share a hash: an event tells each, a removal forgets only the one gone")
{
	struct Collide {
		Collide() { FanotifySource::collideHashesForTesting(true); }
		~Collide() { FanotifySource::collideHashesForTesting(false); }
	} collide;
	Heard h;
	lw::test::unwrap(h.source->watchTree(Tree::Images));
	std::string a = lw::test::makeId(), b = lw::test::makeId();
	for (const auto &id : {a, b}) {
		lw::test::makeDirs(h.images(id));
		lw::test::unwrap(h.source->watchItem(Tree::Images, id));
	}
	h.settle();
	h.changed.clear();
	lw::test::writeFile(h.images(a + "/manifest"), "{}");
	REQUIRE(h.waitFor([&] { return h.heard(Tree::Images, a); }));
	CHECK(h.heard(Tree::Images, b)); // the same hash: a needless read of b, nothing missed

	// a's folder goes: a is forgotten; b's path still holds b's folder, so b stays.
	lw::test::removeAll(h.images(a));
	REQUIRE(h.waitFor([&] { return !h.source->itemWatched(Tree::Images, a); }));
	CHECK(h.source->itemWatched(Tree::Images, b));
	CHECK(h.source->itemWatchCount(Tree::Images) == 1);
	h.changed.clear();
	lw::test::writeFile(h.images(b + "/manifest"), "{}");
	REQUIRE(h.waitFor([&] { return h.heard(Tree::Images, b); }));
}

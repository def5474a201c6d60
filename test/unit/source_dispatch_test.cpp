// The kernel sources' dispatch on real folders, each backend through the engine's
// KernelSource: what a change in a watched tree or item folder is told as, what is
// not told, a tree folder moved away; and the bounded drain that both share. The
// fanotify cases need CAP_SYS_ADMIN (skipped, said so, without).
#include "fanotify_source.h"
#include "inotify_source.h"
#include "test_support.h"

#include <poll.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <memory>
#include <set>

using namespace lw;
using namespace std::chrono_literals;

namespace {

struct Told {
	std::multiset<std::pair<Tree, std::string>> changed;
	std::multiset<std::pair<Tree, ResyncReason>> stale;
	SourceOutput output()
	{
		return {[this](Tree t, const std::string &id) { changed.emplace(t, id); },
			[this](Tree t, ResyncReason r) { stale.emplace(t, r); }};
	}
};

// A store's three tree folders, and a source of the backend asked for on it.
struct Watched {
	lw::test::TempDir tmp;
	std::string root = tmp.path();
	Told told;
	std::unique_ptr<KernelSource> source;

	explicit Watched(const std::string &backend)
	{
		for (auto tree : {"overlay/RO", "overlay-layers/RO", "overlay-images"})
			lw::test::makeDirs(root + "/" + tree);
		if (backend == "fanotify") {
			auto opened = FanotifySource::open(root, told.output());
			if (opened)
				source = std::move(*opened);
		} else {
			source = lw::test::unwrap(InotifySource::open(root, told.output()));
		}
	}
	// Drains as the fd becomes readable until cond holds, or the deadline passes.
	bool drainUntil(const std::function<bool()> &cond, std::chrono::milliseconds deadline = 5s)
	{
		auto end = std::chrono::steady_clock::now() + deadline;
		while (!cond()) {
			auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
			if (left.count() <= 0)
				return false;
			struct pollfd p{source->fd(), POLLIN, 0};
			if (::poll(&p, 1, static_cast<int>(left.count())) > 0)
				REQUIRE(source->drain(1024) >= 0);
		}
		return true;
	}
};

std::vector<std::string> backends()
{
	std::vector<std::string> b{"inotify"};
	lw::test::TempDir probe;
	if (FanotifySource::open(probe.path(), {}))
		b.push_back("fanotify");
	else
		MESSAGE("fanotify cases skipped: no fanotify here (needs CAP_SYS_ADMIN)");
	return b;
}

} // namespace

TEST_CASE("a new item in a watched tree is told by its id; a name that is no id, or an unwatched tree, is not")
{
	for (const auto &backend : backends()) {
		CAPTURE(backend);
		Watched w(backend);
		REQUIRE(w.source);
		lw::test::unwrap(w.source->watchTree(Tree::Images));
		CHECK(w.source->treeWatched(Tree::Images));
		CHECK_FALSE(w.source->treeWatched(Tree::Layers));
		std::string id = lw::test::makeId();
		lw::test::makeDirs(w.root + "/overlay-layers/RO/" + lw::test::makeId()); // not watched
		lw::test::makeDirs(w.root + "/overlay-images/junk");
		lw::test::makeDirs(w.root + "/overlay-images/" + id);
		CHECK(w.drainUntil([&] { return w.told.changed.count({Tree::Images, id}) > 0; }));
		for (const auto &[tree, changed] : w.told.changed)
			CHECK_MESSAGE((tree == Tree::Images && changed == id), changed);
		CHECK(w.told.stale.empty());
	}
}

TEST_CASE("a file written in a watched item folder tells the item; unwatched, it tells nothing")
{
	for (const auto &backend : backends()) {
		CAPTURE(backend);
		Watched w(backend);
		REQUIRE(w.source);
		lw::test::unwrap(w.source->watchTree(Tree::Images));
		std::string id = lw::test::makeId(), other = lw::test::makeId();
		lw::test::makeDirs(w.root + "/overlay-images/" + id);
		lw::test::makeDirs(w.root + "/overlay-images/" + other);
		CHECK(w.drainUntil([&] { return w.told.changed.size() >= 2; }));
		lw::test::unwrap(w.source->watchItem(Tree::Images, id));
		CHECK(w.source->itemWatched(Tree::Images, id));
		CHECK(w.source->itemWatchCount(Tree::Images) == 1);
		w.told.changed.clear();
		lw::test::writeFile(w.root + "/overlay-images/" + other + "/images.json", "{}"); // not followed
		lw::test::writeFile(w.root + "/overlay-images/" + id + "/images.json", "{}");
		CHECK(w.drainUntil([&] { return w.told.changed.count({Tree::Images, id}) > 0; }));
		CHECK(w.told.changed.count({Tree::Images, other}) == 0);

		w.source->unwatchItem(Tree::Images, id);
		CHECK(w.source->itemWatchCount(Tree::Images) == 0);
		w.told.changed.clear();
		lw::test::writeFile(w.root + "/overlay-images/" + id + "/images.json", "{\"x\":1}");
		lw::test::makeDirs(w.root + "/overlay-images/" + lw::test::makeId()); // a marker that comes after
		CHECK(w.drainUntil([&] { return !w.told.changed.empty(); }));
		CHECK(w.told.changed.count({Tree::Images, id}) == 0);
	}
}

TEST_CASE("inotify: a tree folder moved away makes the tree stale (watch lost) and unwatched")
{
	Watched w("inotify");
	lw::test::unwrap(w.source->watchTree(Tree::Images));
	REQUIRE(::rename((w.root + "/overlay-images").c_str(), (w.root + "/moved").c_str()) == 0);
	CHECK(w.drainUntil([&] { return w.told.stale.count({Tree::Images, ResyncReason::WatchLost}) > 0; }));
	CHECK_FALSE(w.source->treeWatched(Tree::Images));
}

TEST_CASE("the shared drain: records until EAGAIN, a corrupt read makes every tree stale, a read error is returned")
{
	int fds[2];
	REQUIRE(::pipe2(fds, O_NONBLOCK) == 0);
	UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
	Told told;
	// One record per byte; a 'x' is a record that runs past the read.
	auto parse = [](const char *buffer, std::size_t length, std::size_t &handled) {
		for (std::size_t i = 0; i < length; ++i) {
			if (buffer[i] == 'x')
				return false;
			++handled;
		}
		return true;
	};
	REQUIRE(::write(writeEnd.get(), "abcd", 4) == 4);
	CHECK(drainRecords(readEnd.get(), 100, told.output(), parse) == 4);
	CHECK(drainRecords(readEnd.get(), 100, told.output(), parse) == 0); // EAGAIN: nothing
	CHECK(told.stale.empty());

	REQUIRE(::write(writeEnd.get(), "ax", 2) == 2);
	CHECK(drainRecords(readEnd.get(), 100, told.output(), parse) == 1);
	CHECK(told.stale.size() == 3);
	CHECK(told.stale.count({Tree::Images, ResyncReason::ShortRead}) == 1);

	CHECK(drainRecords(-1, 100, told.output(), parse) == -EBADF);
}

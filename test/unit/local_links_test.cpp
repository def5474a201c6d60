// The local links of RO layers on real folders: what is replaced, what is removed,
// and what is never touched.
#include "local_links.h"
#include "root.h"
#include "test_support.h"

using namespace lw;

namespace {

const std::string kA = std::string(64, 'a'), kB = std::string(64, 'b'), kRw = std::string(64, 'c');
const std::string kOld = std::string(26, 'o'), kNew = std::string(26, 'n'), kRwLink = std::string(26, 'r');

struct Host {
	lw::test::TempDir tmp;
	std::string root = tmp / "s";
	UniqueFd fd;
	Host()
	{
		for (auto d : {"overlay/RO", "overlay/l", "overlay-layers/RO"})
			lw::test::makeDirs(root + "/" + d);
		for (const auto &id : {kA, kB}) {
			lw::test::makeDirs(root + "/overlay/RO/" + id + "/diff");
			lw::test::makeDirs(root + "/overlay-layers/RO/" + id);
		}
		// A container's RW layer, with its own short link.
		lw::test::makeDirs(root + "/overlay/" + kRw + "/diff");
		lw::test::makeSymlink("../" + kRw + "/diff", root + "/overlay/l/" + kRwLink);
		fd = lw::test::unwrap(openRoot(root));
	}
	std::string shortLink(const std::string &name) { return lw::test::readLinkAt(root + "/overlay/l/" + name); }
};

} // namespace

TEST_CASE("a short link held by a container's layer is never replaced; an RO leftover is")
{
	Host h;
	auto taken = links::create(h.fd.get(), kA, kRwLink);
	REQUIRE_FALSE(taken.ok());
	CHECK(taken.error().code == EEXIST);
	CHECK(h.shortLink(kRwLink) == "../" + kRw + "/diff");

	// l/<old> left by RO layer B (its overlay/<B> a link into RO/): A may take it.
	lw::test::unwrap(links::create(h.fd.get(), kB, kOld));
	lw::test::unwrap(links::create(h.fd.get(), kA, kOld));
	CHECK(h.shortLink(kOld) == "../" + kA + "/diff");
}

TEST_CASE("after a load, a ready layer's old short link and a pending layer's links go, and nothing else")
{
	Host h;
	lw::test::unwrap(links::create(h.fd.get(), kA, kOld));
	lw::test::unwrap(links::create(h.fd.get(), kA, kNew)); // A made anew: a new link
	lw::test::unwrap(links::create(h.fd.get(), kB, std::string(26, 'b')));
	auto state = [&](links::LayerState::Kind bKind) {
		return [bKind](const std::string &id) {
			if (id == kA)
				return links::LayerState{links::LayerState::Ready, kNew};
			if (id == kB)
				return links::LayerState{bKind, {}};
			return links::LayerState{}; // the RW layer: never asked, never ours
		};
	};
	// B unknown (could not be read): its links stay, its short link is deferred.
	std::unordered_map<std::string, std::vector<std::string>> deferred;
	CHECK(lw::test::unwrap(links::removeStaleLinks(h.fd.get(), state(links::LayerState::Unknown), deferred)) == 1);
	CHECK(deferred == std::unordered_map<std::string, std::vector<std::string>>{{kB, {std::string(26, 'b')}}});
	CHECK_FALSE(lw::test::exists(h.root + "/overlay/l/" + kOld));
	CHECK(h.shortLink(kNew) == "../" + kA + "/diff");
	CHECK(h.shortLink(std::string(26, 'b')) == "../" + kB + "/diff");
	CHECK(h.shortLink(kRwLink) == "../" + kRw + "/diff");

	// B pending, but its links made since the reader started (this host's engine is
	// making B now, through them): they stay, and are not deferred either.
	deferred.clear();
	CHECK(lw::test::unwrap(links::removeStaleLinks(h.fd.get(), state(links::LayerState::NotReady), deferred,
						       /*madeBeforeNs=*/1)) == 0);
	CHECK(lw::test::exists(h.root + "/overlay/" + kB));
	CHECK(deferred.empty());

	// B pending, its links older than the start: its three links go; A's and the
	// container's stay.
	CHECK(lw::test::unwrap(links::removeStaleLinks(h.fd.get(), state(links::LayerState::NotReady), deferred)) == 3);
	CHECK_FALSE(lw::test::exists(h.root + "/overlay/l/" + std::string(26, 'b')));
	CHECK_FALSE(lw::test::exists(h.root + "/overlay/" + kB));
	CHECK_FALSE(lw::test::exists(h.root + "/overlay-layers/" + kB));
	CHECK(lw::test::exists(h.root + "/overlay/RO/" + kB + "/diff")); // the share: untouched
	CHECK(h.shortLink(kNew) == "../" + kA + "/diff");
	CHECK(lw::test::readLinkAt(h.root + "/overlay/" + kA) == "RO/" + kA);
	CHECK(h.shortLink(kRwLink) == "../" + kRw + "/diff");
}

TEST_CASE("a deferred short link goes once its layer is ready under another, and a killed reader's temporaries go")
{
	Host h;
	lw::test::unwrap(links::create(h.fd.get(), kA, kOld));
	lw::test::makeSymlink("../" + kA + "/diff", h.root + "/overlay/l/.tmp-" + kNew + "-0123456789");
	lw::test::makeSymlink("RO/" + kB, h.root + "/overlay/.tmp-" + kB + "-0123456789");
	lw::test::makeSymlink("RO/" + kB, h.root + "/overlay-layers/.tmp-" + kB + "-0123456789");
	// Someone else's temporaries stay: not a link into RO/, not to a layer's diff.
	lw::test::makeSymlink("../" + kRw + "/merged", h.root + "/overlay/l/.tmp-other");
	lw::test::makeSymlink(kRw, h.root + "/overlay-layers/.tmp-other");
	std::unordered_map<std::string, std::vector<std::string>> deferred;
	CHECK(lw::test::unwrap(links::removeStaleLinks(h.fd.get(), [](const std::string &) { return links::LayerState{}; },
						       deferred)) == 3);
	CHECK_FALSE(lw::test::exists(h.root + "/overlay/l/.tmp-" + kNew + "-0123456789"));
	CHECK_FALSE(lw::test::exists(h.root + "/overlay/.tmp-" + kB + "-0123456789"));
	CHECK_FALSE(lw::test::exists(h.root + "/overlay-layers/.tmp-" + kB + "-0123456789"));
	CHECK(lw::test::readLinkAt(h.root + "/overlay/l/.tmp-other") == "../" + kRw + "/merged");
	CHECK(lw::test::readLinkAt(h.root + "/overlay-layers/.tmp-other") == kRw);
	REQUIRE(deferred.count(kA));
	// One made since the reader started is a build_ro_dir in progress: it stays, for
	// its rename to find it.
	std::string live = h.root + "/overlay-layers/.tmp-" + kB + "-9876543210";
	lw::test::makeSymlink("RO/" + kB, live);
	std::int64_t startedNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
		std::chrono::system_clock::now().time_since_epoch() - std::chrono::minutes(1)).count();
	std::unordered_map<std::string, std::vector<std::string>> unused;
	CHECK(lw::test::unwrap(links::removeStaleLinks(h.fd.get(), [](const std::string &) { return links::LayerState{}; },
						       unused, startedNs)) == 0);
	CHECK(lw::test::exists(live));
	lw::test::unwrap(links::create(h.fd.get(), kA, kNew)); // ready again, under its new link
	links::removeOtherShortLinks(h.fd.get(), kA, kNew, deferred[kA]);
	CHECK_FALSE(lw::test::exists(h.root + "/overlay/l/" + kOld));
	CHECK(h.shortLink(kNew) == "../" + kA + "/diff");
	CHECK(h.shortLink(kRwLink) == "../" + kRw + "/diff");
}

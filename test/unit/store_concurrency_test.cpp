// Readers on other threads take snapshots while the one writer commits thousands
// of changes: every snapshot is consistent (every visible image's chain is visible)
// and generations never go back. Meant for ThreadSanitizer too (CI runs it there).
#include "test_support.h"
#include "store_state.h"

#include <layerwatch/store.h>

#include <atomic>
#include <thread>

using namespace lw;

namespace {

std::string idOf(int n)
{
	std::string s = std::to_string(n);
	return std::string(64 - s.size(), '0') + s;
}

Id keyOf(int n)
{
	return *Id::parse(idOf(n));
}

} // namespace

TEST_CASE("snapshots stay consistent while the writer commits")
{
	Store store;
	constexpr int kRounds = 3000;
	std::atomic<bool> done{false};
	std::atomic<long> checks{0};
	std::atomic<long> inconsistent{0};

	auto reader = [&] {
		std::uint64_t lastGeneration = 0;
		while (!done.load(std::memory_order_acquire)) {
			Snapshot snap = store.snapshot();
			if (snap.generation() < lastGeneration)
				inconsistent.fetch_add(1);
			lastGeneration = snap.generation();
			for (const auto &image : snap.images()) {
				auto chain = snap.chain(image->id);
				if (chain.empty() || !chain.back()->parent.empty() || chain.size() != 3)
					inconsistent.fetch_add(1);
				if (snap.imageByName(image->names.front()) == nullptr)
					inconsistent.fetch_add(1);
			}
			checks.fetch_add(1);
		}
	};
	std::vector<std::thread> readers;
	for (int i = 0; i < 3; ++i)
		readers.emplace_back(reader);

	// Each round adds a 3-layer chain and an image on it, and removes the round's
	// from 10 rounds ago, image first: the order the reconciler commits in.
	for (int round = 0; round < kRounds; ++round) {
		{
			Store::Transaction tx(store);
			std::string parent;
			for (int level = 0; level < 3; ++level) {
				LayerInfo layer{.id = idOf(round * 10 + level), .parent = parent};
				layer.diffDigest = "sha256:" + layer.id;
				parent = layer.id;
				tx.putLayer({PackedLayer(layer), *ShortLink::parse(std::string(kLinkLength, 'l'))});
			}
			tx.putImage({PackedImage(ImageInfo{.id = idOf(1000000 + round),
							   .names = {"img:" + std::to_string(round)},
							   .topLayer = parent}),
				     {}});
		}
		if (round >= 10) {
			Store::Transaction tx(store);
			int old = round - 10;
			tx.removeImage(keyOf(1000000 + old));
			for (int level = 2; level >= 0; --level)
				tx.removeLayer(keyOf(old * 10 + level));
		}
	}
	done.store(true, std::memory_order_release);
	for (auto &t : readers)
		t.join();

	Snapshot last = store.snapshot();
	CHECK(last.imageCount() == 10);
	CHECK(last.layerCount() == 30);
	CHECK(last.generation() == static_cast<std::uint64_t>(2 * kRounds - 10));
	CHECK(checks.load() > 0);
	CHECK(inconsistent.load() == 0);
	CHECK(last.layersByDigest("sha256:" + idOf((kRounds - 1) * 10)).size() == 1);
	CHECK(last.imagesByDigest("none").empty());
}

TEST_CASE("a snapshot never changes under its reader")
{
	Store store;
	{
		Store::Transaction tx(store);
		tx.putLayer({PackedLayer(LayerInfo{.id = idOf(1)}), *ShortLink::parse("abcdefghijklmnopqrstuvwxyz")});
	}
	Snapshot before = store.snapshot();
	{
		Store::Transaction tx(store);
		tx.removeLayer(keyOf(1));
		tx.putLayer({PackedLayer(LayerInfo{.id = idOf(2)}), *ShortLink::parse("abcdefghijklmnopqrstuvwxyz")});
	}
	REQUIRE(before.layer(idOf(1)));
	CHECK(before.layer(idOf(1))->link == "abcdefghijklmnopqrstuvwxyz");
	CHECK_FALSE(before.layer(idOf(2)));
	CHECK_FALSE(store.snapshot().layer(idOf(1)));
	CHECK(store.snapshot().generation() == before.generation() + 1);
	{
		Store::Transaction tx(store); // no edit: no new generation
	}
	CHECK(store.snapshot().generation() == before.generation() + 1);
}

TEST_CASE("the shards grow with the map, and a snapshot from before a growth keeps what it saw")
{
	detail::ShardedMap<int> map;
	CHECK(map.shardCount() == detail::ShardedMap<int>::kFirstShards);
	std::vector<std::pair<std::size_t, detail::ShardedMap<int>>> kept; // (entries, a frozen copy)
	for (int i = 0; i < 40000; ++i) {
		map.set(idOf(i), i);
		if (i % 5000 == 0) {
			kept.emplace_back(map.size(), map); // as Store::publish copies its state
			map.freeze();
		}
	}
	// Four times the shards whenever the average passed 128: 64, 256, 1024.
	CHECK(map.shardCount() == 1024);
	CHECK(map.size() == 40000);
	for (int i = 0; i < 40000; ++i)
		REQUIRE(map.find(idOf(i)) != nullptr);
	for (const auto &[entries, copy] : kept) {
		CHECK(copy.size() == entries);
		std::size_t seen = 0;
		copy.forEach([&](const std::string &, int) { ++seen; });
		CHECK(seen == entries);
		CHECK(copy.find(idOf(static_cast<int>(entries) - 1)) != nullptr);
		CHECK(copy.find(idOf(static_cast<int>(entries))) == nullptr);
	}
	// Erasing after a growth: the entry goes from the map, not from the copies.
	map.erase(idOf(7));
	CHECK(map.find(idOf(7)) == nullptr);
	CHECK(kept.back().second.find(idOf(7)) != nullptr);
	CHECK(map.size() == 39999);
}

TEST_CASE("names and digests file ids oldest first, whatever the digest's form")
{
	Store store;
	auto image = [](int n, std::vector<std::string> names, std::string digest) {
		return detail::CommittedImage{PackedImage(ImageInfo{.id = idOf(n), .names = std::move(names),
								    .topLayer = idOf(9), .digest = std::move(digest)}),
					      {}};
	};
	std::string sha = "sha256:" + idOf(77);
	{
		Store::Transaction tx(store);
		tx.putImage(image(1, {"app:1", "app:latest"}, sha));
		tx.putImage(image(2, {"app:latest"}, sha));
		tx.putImage(image(3, {"other"}, "md5:not-a-sha256"));
		tx.putLayer({PackedLayer(LayerInfo{.id = idOf(9), .diffDigest = sha, .compressedDiffDigest = sha}),
			     *ShortLink::parse(std::string(kLinkLength, 'a'))});
	}
	auto snap = store.snapshot();
	REQUIRE(snap.imageByName("app:latest"));
	CHECK(snap.imageByName("app:latest")->id == idOf(2)); // the newest
	CHECK(snap.imageByName("app:1")->id == idOf(1));
	auto bySha = snap.imagesByDigest(sha);
	REQUIRE(bySha.size() == 2);
	CHECK(bySha[0]->id == idOf(1));
	CHECK(bySha[1]->id == idOf(2));
	REQUIRE(snap.imagesByDigest("md5:not-a-sha256").size() == 1);
	CHECK(snap.imagesByDigest("md5:not-a-sha256")[0]->id == idOf(3));
	CHECK(snap.imagesByDigest("sha256:" + std::string(64, 'A')).empty()); // no sha256: its own key
	CHECK(snap.layersByDigest(sha).size() == 1); // diff and compressed the same: once
	CHECK(snap.imagesByDigest("").empty());

	{
		Store::Transaction tx(store);
		tx.putImage(image(1, {"app:1", "app:latest"}, sha)); // written again: now the newest
	}
	CHECK(store.snapshot().imageByName("app:latest")->id == idOf(1));
	{
		Store::Transaction tx(store);
		tx.removeImage(keyOf(1));
	}
	snap = store.snapshot();
	CHECK(snap.imageByName("app:latest")->id == idOf(2));
	CHECK_FALSE(snap.imageByName("app:1"));
	CHECK(snap.imagesByDigest(sha).size() == 1);
	{
		Store::Transaction tx(store);
		tx.removeImage(keyOf(2));
		tx.removeImage(keyOf(3));
	}
	snap = store.snapshot();
	CHECK_FALSE(snap.imageByName("app:latest"));
	CHECK(snap.imagesByDigest(sha).empty());
	CHECK(snap.imagesByDigest("md5:not-a-sha256").empty());
}

TEST_CASE("an index entry shared by strings of one hash gives only the items that carry the string asked for")
{
	// As if "app:wanted" and another image's name had one hash: the index files that
	// image under the key of a name it does not carry (and of a digest, likewise).
	auto state = std::make_shared<detail::StoreState>();
	std::string sha = "sha256:" + idOf(77), otherSha = "sha256:" + idOf(78);
	state->images.put({PackedImage(ImageInfo{.id = idOf(1), .names = {"app:other"}, .topLayer = idOf(9),
						 .digest = otherSha}),
			   {}});
	state->images.put({PackedImage(ImageInfo{.id = idOf(2), .names = {"app:wanted"}, .topLayer = idOf(9),
						 .digest = sha}),
			   {}});
	state->layers.put({PackedLayer(LayerInfo{.id = idOf(9), .diffDigest = otherSha}),
			   *ShortLink::parse(std::string(kLinkLength, 'a'))});
	// The records as the tables hold them, filed under key in the order given.
	auto file = [&](auto &index, std::string_view key, std::vector<int> ids) {
		for (int n : ids) {
			if constexpr (std::is_same_v<std::decay_t<decltype(index)>, detail::Index<PackedLayer>>)
				index.add(detail::indexKey(key), state->layers.find(keyOf(n))->record);
			else
				index.add(detail::indexKey(key), state->images.find(keyOf(n))->record);
		}
	};
	file(state->imagesByName, "app:wanted", {2, 1}); // 1, the newest, does not carry it
	file(state->imagesByDigest, sha, {1, 2});
	file(state->layersByDigest, sha, {9});
	Snapshot snap(state);
	REQUIRE(snap.imageByName("app:wanted"));
	CHECK(snap.imageByName("app:wanted")->id == idOf(2));
	CHECK_FALSE(snap.imageByName("app:other")); // filed under no key of its own here
	auto bySha = snap.imagesByDigest(sha);
	REQUIRE(bySha.size() == 1);
	CHECK(bySha[0]->id == idOf(2));
	CHECK(snap.layersByDigest(sha).empty());
}

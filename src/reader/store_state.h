// The store's write side and its copy-on-write maps: the library's own. Hosts read
// it through Snapshot (<layerwatch/store.h>).
#pragma once

#include <layerwatch/store.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lw {

namespace detail {

// A copy-on-write hash map in shards: a commit copies only the shards it touches,
// and a snapshot shares the rest. The shards grow with the map (4x once it averages
// kMaxPerShard entries each), so that what a commit copies stays about the same
// whatever the store's size: a new image in a store of 100 000 copies a shard of
// under a hundred entries, not of 1 500. Not thread-safe by itself; Store guards it.
template <class V>
class ShardedMap {
public:
	static constexpr std::size_t kFirstShards = 64, kMaxPerShard = 128;
	struct KeyHash {
		using is_transparent = void;
		std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
	};
	// Heterogeneous lookup: a query by string_view allocates nothing.
	using Shard = std::unordered_map<std::string, V, KeyHash, std::equal_to<>>;

	ShardedMap() : shards_(kFirstShards), owned_(kFirstShards, false) {}

	const V *find(std::string_view key) const
	{
		const auto &shard = shards_[indexOf(key)];
		if (!shard)
			return nullptr;
		auto it = shard->find(key);
		return it == shard->end() ? nullptr : &it->second;
	}
	// The value at key, made (and counted) if missing.
	V &at(const std::string &key)
	{
		if (!find(key))
			growFor(size_ + 1);
		auto [it, inserted] = writable(key).try_emplace(key);
		size_ += inserted ? 1 : 0;
		return it->second;
	}
	void erase(const std::string &key)
	{
		if (find(key)) {
			writable(key).erase(key);
			--size_;
		}
	}
	void set(const std::string &key, V value)
	{
		if (!find(key))
			growFor(size_ + 1);
		auto &shard = writable(key);
		auto [it, inserted] = shard.insert_or_assign(key, std::move(value));
		(void)it;
		size_ += inserted ? 1 : 0;
	}
	std::size_t size() const { return size_; }
	std::size_t shardCount() const { return shards_.size(); }
	// After a publish: every shard is now shared, and copied on its next write.
	void freeze() { std::fill(owned_.begin(), owned_.end(), false); }
	template <class F>
	void forEach(F &&f) const
	{
		for (const auto &shard : shards_)
			if (shard)
				for (const auto &[key, value] : *shard)
					f(key, value);
	}

private:
	std::size_t indexOf(std::string_view key) const
	{
		return KeyHash{}(key) & (shards_.size() - 1); // a power of two
	}
	Shard &writable(std::string_view key)
	{
		std::size_t i = indexOf(key);
		// A frozen shard may be shared with a published snapshot: never write it,
		// write a copy. (Flags, not use_count(): no reader thread is consulted.)
		if (!owned_[i]) {
			shards_[i] = shards_[i] ? std::make_shared<Shard>(*shards_[i]) : std::make_shared<Shard>();
			owned_[i] = true;
		}
		return *shards_[i];
	}
	// Four times the shards once the average passes kMaxPerShard: every entry moves
	// once per growth (amortized O(1) per insertion), into shards of our own.
	void growFor(std::size_t entries)
	{
		if (entries <= shards_.size() * kMaxPerShard)
			return;
		std::vector<std::shared_ptr<Shard>> old = std::move(shards_);
		shards_.assign(old.size() * 4, nullptr);
		owned_.assign(shards_.size(), true);
		for (auto &shard : shards_)
			shard = std::make_shared<Shard>();
		for (const auto &shard : old)
			if (shard)
				for (const auto &[key, value] : *shard)
					shards_[indexOf(key)]->emplace(key, value);
	}

	std::vector<std::shared_ptr<Shard>> shards_;
	std::vector<bool> owned_;
	std::size_t size_ = 0;
};

struct StoreState {
	std::uint64_t generation = 0;
	ShardedMap<LayerPtr> layers;
	ShardedMap<ImagePtr> images;
	ShardedMap<std::vector<std::string>> imagesByName;   // name -> ids, newest last
	ShardedMap<std::vector<std::string>> imagesByDigest; // digest -> ids
	ShardedMap<std::vector<std::string>> layersByDigest; // diff or compressed digest -> ids

	void freeze()
	{
		layers.freeze(), images.freeze(), imagesByName.freeze(), imagesByDigest.freeze(),
			layersByDigest.freeze();
	}
};

} // namespace detail

// The store. snapshot() from any thread; the edit functions only from the one writer,
// and only through a Transaction, which publishes all of its edits at once.
class Store {
public:
	Store();
	Store(const Store &) = delete;
	Store &operator=(const Store &) = delete;

	Snapshot snapshot() const;

	class Transaction {
	public:
		explicit Transaction(Store &store);
		Transaction(const Transaction &) = delete;
		Transaction &operator=(const Transaction &) = delete;
		~Transaction(); // commits

		void putLayer(LayerPtr layer);
		void removeLayer(const std::string &id);
		void putImage(ImagePtr image);
		void removeImage(const std::string &id);
		// The working view, edits included.
		const detail::StoreState &state() const { return store_.working_; }

	private:
		Store &store_;
		bool changed_ = false;
	};

private:
	void publish();

	detail::StoreState working_; // the writer's own copy
	mutable std::mutex mutex_;   // guards published_, held only for a pointer copy
	std::shared_ptr<const detail::StoreState> published_;
};

} // namespace lw

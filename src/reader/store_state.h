// The store's write side and its copy-on-write maps: the library's own. Hosts read
// it through Snapshot (<layerwatch/store.h>).
#pragma once

#include "id.h"
#include "identity.h"
#include "packed_record.h"
#include "short_link.h"

#include <layerwatch/store.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <span>
#include <vector>

namespace lw {

namespace detail {

struct KeyHash {
	using is_transparent = void;
	std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
};

// A copy-on-write hash table in shards, of entries that carry their own key
// (KeyOf{}(entry): a string_view into the entry, or a record's id): a record is held
// once, its id with it, not again as a key. A commit copies only the shards it
// touches, and a snapshot shares the rest. The shards grow with the table (4x once
// they average kMaxPerShard entries each), so that what a commit copies stays about
// the same whatever the store's size: a new image in a store of 100 000 copies a
// shard of under a hundred entries, not of 1 500. A shard is a vector sorted by key:
// an entry costs its own bytes, where a node of a hash set cost a pointer, a bucket
// and malloc's header besides (24 bytes of every entry of the store). Not
// thread-safe by itself; Store guards it.
template <class Entry, class KeyOf, class Key = std::string_view, class Hash = KeyHash>
class ShardedTable {
public:
	static constexpr std::size_t kFirstShards = 64, kMaxPerShard = 128;
	using Shard = std::vector<Entry>; // sorted by key

	ShardedTable() : shards_(kFirstShards), owned_(kFirstShards, false) {}

	const Entry *find(const Key &key) const
	{
		auto found = all(key);
		return found.empty() ? nullptr : found.data();
	}
	// Adds the entry, or replaces the one with its key.
	void put(Entry entry)
	{
		Key key = KeyOf{}(entry);
		if (!find(key))
			return insertLast(std::move(entry));
		auto &shard = writable(key);
		*std::lower_bound(shard.begin(), shard.end(), key, Less{}) = std::move(entry);
	}
	void erase(const Key &key)
	{
		eraseFirst(key, [](const Entry &) { return true; });
	}
	std::size_t size() const { return size_; }
	std::size_t shardCount() const { return shards_.size(); }
	// The entries with key, in the order they were put (an index keeps several under
	// one key).
	std::span<const Entry> all(const Key &key) const
	{
		const auto &shard = shards_[indexOf(key)];
		if (!shard)
			return {};
		auto [first, last] = std::equal_range(shard->begin(), shard->end(), key, Less{});
		return {shard->data() + (first - shard->begin()), static_cast<std::size_t>(last - first)};
	}
	// Before a publish: the shards written since the last one take only the room
	// their entries need (a load's grew by doubling, and are kept for long).
	void compact()
	{
		for (std::size_t i = 0; i < shards_.size(); ++i)
			if (owned_[i] && shards_[i] && shards_[i]->capacity() > shards_[i]->size())
				shards_[i]->shrink_to_fit();
	}
	// After a publish: every shard is now shared, and copied on its next write.
	void freeze() { std::fill(owned_.begin(), owned_.end(), false); }
	template <class F>
	void forEach(F &&f) const
	{
		for (const auto &shard : shards_)
			if (shard)
				for (const auto &entry : *shard)
					f(entry);
	}

protected:
	// After any with its key (a table that keeps several under one key: an index).
	void insertLast(Entry entry)
	{
		growFor(size_ + 1);
		Key key = KeyOf{}(entry);
		auto &shard = writable(key);
		shard.insert(std::upper_bound(shard.begin(), shard.end(), key, Less{}), std::move(entry));
		++size_;
	}
	// The first entry with key that pick(entry) accepts; false when there is none.
	template <class Pick>
	bool eraseFirst(const Key &key, Pick pick)
	{
		auto found = all(key);
		auto at = std::find_if(found.begin(), found.end(), pick);
		if (at == found.end())
			return false;
		std::size_t offset = static_cast<std::size_t>(&*at - shards_[indexOf(key)]->data());
		auto &shard = writable(key);
		shard.erase(shard.begin() + static_cast<std::ptrdiff_t>(offset));
		--size_;
		return true;
	}

private:
	struct Less {
		bool operator()(const Entry &entry, const Key &key) const { return KeyOf{}(entry) < key; }
		bool operator()(const Key &key, const Entry &entry) const { return key < KeyOf{}(entry); }
	};
	std::size_t indexOf(const Key &key) const
	{
		return Hash{}(key) & (shards_.size() - 1); // a power of two
	}
	Shard &writable(const Key &key)
	{
		std::size_t i = indexOf(key);
		// A frozen shard may be shared with a published snapshot: never write it,
		// write a copy (of its size and one more: a commit adds a few). (Flags, not
		// use_count(): no reader thread is consulted.)
		if (!owned_[i]) {
			auto copy = std::make_shared<Shard>();
			if (shards_[i]) {
				copy->reserve(shards_[i]->size() + 1);
				copy->assign(shards_[i]->begin(), shards_[i]->end());
			}
			shards_[i] = std::move(copy);
			owned_[i] = true;
		}
		return *shards_[i];
	}
	// Four times the shards once the average passes kMaxPerShard: every entry moves
	// once per growth (amortized O(1) per insertion), into shards of our own, in the
	// order it had among those of its key.
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
				for (const auto &entry : *shard)
					shards_[indexOf(KeyOf{}(entry))]->push_back(entry);
		for (auto &shard : shards_)
			std::stable_sort(shard->begin(), shard->end(), [](const Entry &a, const Entry &b) {
				return KeyOf{}(a) < KeyOf{}(b);
			});
	}

	std::vector<std::shared_ptr<Shard>> shards_;
	std::vector<bool> owned_;
	std::size_t size_ = 0;
};

// The table as a map of keys to values: string keys looked up by string_view, or
// keys of another type (Lookup = K).
template <class K, class V>
struct KeyedEntry {
	K key;
	V value;
};
struct KeyOfEntry {
	template <class Entry>
	const auto &operator()(const Entry &entry) const noexcept { return entry.key; }
};
template <class V, class K = std::string, class L = std::string_view, class Hash = KeyHash>
class ShardedMap : public ShardedTable<KeyedEntry<K, V>, KeyOfEntry, L, Hash> {
	using Base = ShardedTable<KeyedEntry<K, V>, KeyOfEntry, L, Hash>;

public:
	using Key = K;
	using Lookup = L;

	const V *find(const Lookup &key) const
	{
		const auto *entry = Base::find(key);
		return entry ? &entry->value : nullptr;
	}
	void set(K key, V value) { Base::put({std::move(key), std::move(value)}); }
	template <class F>
	void forEach(F &&f) const
	{
		Base::forEach([&](const KeyedEntry<K, V> &entry) { f(entry.key, entry.value); });
	}
};

// What an index files a name or digest under: its hash, 8 bytes, in place of the
// string (an index holds a digest for every image and two for every layer, and a name
// for every tag). Strings of one hash share an entry: a lookup keeps only the items
// whose record carries the string asked for.
std::uint64_t indexKey(std::string_view text) noexcept;
struct IndexKeyHash {
	std::size_t operator()(std::uint64_t key) const noexcept { return key; } // a hash already
};

// A record filed under a name or digest (its indexKey): 16 bytes, the record shared
// with the table, where a list of ids held 32 bytes an id and a node besides.
template <class Record>
struct IndexEntry {
	std::uint64_t key;
	Record record;
};
struct KeyOfIndexEntry {
	template <class Entry>
	std::uint64_t operator()(const Entry &entry) const noexcept { return entry.key; }
};

// indexKey(name or digest) -> the records that carry it (or a string of its hash),
// oldest first.
template <class Record>
class Index : public ShardedTable<IndexEntry<Record>, KeyOfIndexEntry, std::uint64_t, IndexKeyHash> {
public:
	// Files the record under key, last (moved there if it was in).
	void add(std::uint64_t key, const Record &record)
	{
		remove(key, *record.key());
		this->insertLast({key, record});
	}
	// (Of two of an item's strings with one hash, the first removes it, the second
	// finds it gone: a record is filed under a key while any of its strings has it.)
	void remove(std::uint64_t key, const Id &id)
	{
		this->eraseFirst(key, [&](const IndexEntry<Record> &entry) { return entry.record.key() == id; });
	}
};
// A committed layer: its record as read (the validator's own block), its overlay's
// short link, and the folders it was committed from (overlay/RO/<id> and
// overlay-layers/RO/<id>): a new inode under its id means a layer made anew, which is
// removed and added.
struct CommittedLayer {
	PackedLayer record;
	ShortLink link;
	InodeId overlayFolder, layerFolder;

	LayerPtr unpack() const { return record.unpack(link.view()); }
	bool operator==(const CommittedLayer &) const = default;
};

// A committed image: its record and the folder it was committed from.
struct CommittedImage {
	PackedImage record;
	InodeId folder;

	ImagePtr unpack() const { return record.unpack(); }
	bool operator==(const CommittedImage &) const = default;
};

// A record keyed by its own id (the store holds only records whose id is one).
struct KeyOfRecord {
	template <class Committed>
	Id operator()(const Committed &committed) const noexcept
	{
		return committed.record.key().value_or(Id());
	}
};
using LayerTable = ShardedTable<CommittedLayer, KeyOfRecord, Id, IdHash>;
using ImageTable = ShardedTable<CommittedImage, KeyOfRecord, Id, IdHash>;

struct StoreState {
	std::uint64_t generation = 0;
	LayerTable layers;
	ImageTable images;
	Index<PackedImage> imagesByName;   // name -> images, newest last
	Index<PackedImage> imagesByDigest; // digest -> images
	Index<PackedLayer> layersByDigest; // diff or compressed digest -> layers

	void compact()
	{
		layers.compact(), images.compact(), imagesByName.compact(), imagesByDigest.compact(),
			layersByDigest.compact();
	}
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
	// What a snapshot holds, for the library's own use: the records packed.
	std::shared_ptr<const detail::StoreState> state() const;

	class Transaction {
	public:
		explicit Transaction(Store &store);
		Transaction(const Transaction &) = delete;
		Transaction &operator=(const Transaction &) = delete;
		~Transaction(); // commits

		// Records whose id is an id (the reconciler commits no other).
		void putLayer(detail::CommittedLayer layer);
		void removeLayer(const Id &id);
		void putImage(detail::CommittedImage image);
		void removeImage(const Id &id);
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

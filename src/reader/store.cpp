// The store maps and their snapshots.
#include "store_state.h"

#include <algorithm>

namespace lw {

namespace {

using detail::StoreState;

template <class Table>
auto sortedValues(const Table &table)
{
	using Packed = std::remove_cvref_t<decltype(*table.find(Id()))>;
	std::vector<std::pair<Id, const Packed *>> packed;
	packed.reserve(table.size());
	table.forEach([&](const Packed &value) { packed.emplace_back(detail::KeyOfRecord{}(value), &value); });
	std::sort(packed.begin(), packed.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
	std::vector<decltype(packed.front().second->unpack())> out;
	out.reserve(packed.size());
	for (const auto &entry : packed)
		out.push_back(entry.second->unpack());
	return out;
}

// The items filed under key whose record carries it (carries(record)): an entry may
// hold others, of strings with the same hash.
template <class Record, class Table, class Carries>
auto lookupAll(const detail::Index<Record> &index, const Table &table, std::string_view key, Carries carries)
{
	std::vector<decltype(table.find(Id())->unpack())> out;
	if (!key.empty())
		for (const auto &entry : index.all(detail::indexKey(key)))
			if (carries(entry.record))
				if (const auto *item = table.find(*entry.record.key()))
					out.push_back(item->unpack());
	return out;
}

template <class Table>
auto lookupOne(const Table &table, std::string_view hex)
{
	auto id = Id::parse(hex);
	const auto *found = id ? table.find(*id) : nullptr;
	return found ? found->unpack() : nullptr;
}

// Files a record under name (a name, or a digest), last; an empty one files nothing.
template <class Record>
void addToIndex(detail::Index<Record> &index, std::string_view name, const Record &record)
{
	if (!name.empty())
		index.add(detail::indexKey(name), record);
}

template <class Record>
void removeFromIndex(detail::Index<Record> &index, std::string_view name, const Id &id)
{
	if (!name.empty())
		index.remove(detail::indexKey(name), id);
}

const StoreState &emptyState()
{
	static const StoreState state;
	return state;
}

} // namespace

namespace detail {

std::uint64_t indexKey(std::string_view text) noexcept
{
	return std::hash<std::string_view>{}(text);
}

} // namespace detail

Snapshot::Snapshot() : state_(std::shared_ptr<const StoreState>(), &emptyState()) {}
Snapshot::Snapshot(std::shared_ptr<const StoreState> state) : state_(std::move(state)) {}

std::uint64_t Snapshot::generation() const { return state_->generation; }
std::size_t Snapshot::layerCount() const { return state_->layers.size(); }
std::size_t Snapshot::imageCount() const { return state_->images.size(); }

LayerPtr Snapshot::layer(std::string_view id) const
{
	return lookupOne(state_->layers, id);
}

ImagePtr Snapshot::image(std::string_view id) const
{
	return lookupOne(state_->images, id);
}

ImagePtr Snapshot::imageByName(std::string_view name) const
{
	auto all = lookupAll(state_->imagesByName, state_->images, name, [&](const PackedImage &record) {
		auto names = record.names();
		return std::find(names.begin(), names.end(), name) != names.end();
	});
	return all.empty() ? nullptr : all.back();
}

std::vector<ImagePtr> Snapshot::imagesByDigest(std::string_view digest) const
{
	return lookupAll(state_->imagesByDigest, state_->images, digest,
			 [&](const PackedImage &record) { return record.digest() == digest; });
}

std::vector<LayerPtr> Snapshot::layersByDigest(std::string_view digest) const
{
	return lookupAll(state_->layersByDigest, state_->layers, digest, [&](const PackedLayer &record) {
		return record.diffDigest() == digest || record.compressedDiffDigest() == digest;
	});
}

std::vector<LayerPtr> Snapshot::chain(std::string_view imageId) const
{
	std::vector<LayerPtr> out;
	auto id = Id::parse(imageId);
	const auto *image = id ? state_->images.find(*id) : nullptr;
	auto next = image ? image->record.topLayerKey() : std::nullopt;
	// The store never holds a cycle, but a bound costs nothing.
	while (next && out.size() <= 1024) {
		const auto *layer = state_->layers.find(*next);
		if (!layer)
			break;
		out.push_back(layer->unpack());
		next = layer->record.parentKey();
	}
	return out;
}

std::vector<LayerPtr> Snapshot::layers() const { return sortedValues(state_->layers); }
std::vector<ImagePtr> Snapshot::images() const { return sortedValues(state_->images); }

Store::Store() : published_(std::make_shared<const StoreState>()) {}

Snapshot Store::snapshot() const
{
	return Snapshot(state());
}

std::shared_ptr<const StoreState> Store::state() const
{
	std::lock_guard lock(mutex_);
	return published_;
}

void Store::publish()
{
	++working_.generation;
	working_.compact();
	auto next = std::make_shared<const StoreState>(working_);
	working_.freeze();
	std::lock_guard lock(mutex_);
	published_ = std::move(next);
}

Store::Transaction::Transaction(Store &store) : store_(store) {}

Store::Transaction::~Transaction()
{
	if (changed_)
		store_.publish();
}

void Store::Transaction::putLayer(detail::CommittedLayer layer)
{
	auto &s = store_.working_;
	auto key = layer.record.key();
	if (!key)
		return; // no id: the reconciler commits none
	const Id id = *key;
	removeLayer(id);
	auto diff = layer.record.diffDigest(), compressed = layer.record.compressedDiffDigest();
	addToIndex(s.layersByDigest, diff, layer.record);
	if (compressed != diff)
		addToIndex(s.layersByDigest, compressed, layer.record);
	s.layers.put(std::move(layer));
	changed_ = true;
}

void Store::Transaction::removeLayer(const Id &id)
{
	auto &s = store_.working_;
	const auto *old = s.layers.find(id);
	if (!old)
		return;
	removeFromIndex(s.layersByDigest, old->record.diffDigest(), id);
	removeFromIndex(s.layersByDigest, old->record.compressedDiffDigest(), id);
	s.layers.erase(id);
	changed_ = true;
}

void Store::Transaction::putImage(detail::CommittedImage image)
{
	auto &s = store_.working_;
	auto key = image.record.key();
	if (!key)
		return; // no id: the reconciler commits none
	const Id id = *key;
	removeImage(id);
	for (const auto &name : image.record.names())
		addToIndex(s.imagesByName, name, image.record);
	addToIndex(s.imagesByDigest, image.record.digest(), image.record);
	s.images.put(std::move(image));
	changed_ = true;
}

void Store::Transaction::removeImage(const Id &id)
{
	auto &s = store_.working_;
	const auto *old = s.images.find(id);
	if (!old)
		return;
	for (const auto &name : old->record.names())
		removeFromIndex(s.imagesByName, name, id);
	removeFromIndex(s.imagesByDigest, old->record.digest(), id);
	s.images.erase(id);
	changed_ = true;
}

} // namespace lw

// The store maps and their snapshots.
#include "store_state.h"

#include <algorithm>

namespace lw {

namespace {

using detail::StoreState;

template <class Table>
auto sortedValues(const Table &table)
{
	using Ptr = std::remove_cvref_t<decltype(*table.find(""))>;
	std::vector<Ptr> out;
	out.reserve(table.size());
	table.forEach([&](const Ptr &value) { out.push_back(value); });
	std::sort(out.begin(), out.end(), [](const Ptr &a, const Ptr &b) { return a->id < b->id; });
	return out;
}

template <class Table>
auto lookupAll(const detail::IdIndex &index, const Table &table, std::string_view key)
{
	std::vector<std::remove_cvref_t<decltype(*table.find(""))>> out;
	if (const auto *ids = index.find(key))
		for (const Id &id : *ids)
			if (const auto *item = table.find(id.hex()))
				out.push_back(*item);
	return out;
}

// A record whose id is no id (the reconciler commits none) is left out of the
// indexes, which hold ids as their 32 bytes.
void addToIndex(detail::IdIndex &index, const std::string &key, const std::string &hex)
{
	auto parsed = Id::parse(hex);
	if (key.empty() || !parsed)
		return;
	const Id &id = *parsed;
	std::vector<Id> ids;
	if (const auto *old = index.find(key))
		ids = *old;
	ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
	ids.push_back(id);
	index.set(key, std::move(ids));
}

void removeFromIndex(detail::IdIndex &index, const std::string &key, const std::string &hex)
{
	auto parsed = Id::parse(hex);
	const auto *old = key.empty() || !parsed ? nullptr : index.find(key);
	if (!old)
		return;
	const Id &id = *parsed;
	std::vector<Id> ids = *old;
	ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
	if (ids.empty())
		index.erase(key);
	else
		index.set(key, std::move(ids));
}

const StoreState &emptyState()
{
	static const StoreState state;
	return state;
}

} // namespace

Snapshot::Snapshot() : state_(std::shared_ptr<const StoreState>(), &emptyState()) {}
Snapshot::Snapshot(std::shared_ptr<const StoreState> state) : state_(std::move(state)) {}

std::uint64_t Snapshot::generation() const { return state_->generation; }
std::size_t Snapshot::layerCount() const { return state_->layers.size(); }
std::size_t Snapshot::imageCount() const { return state_->images.size(); }

LayerPtr Snapshot::layer(std::string_view id) const
{
	const auto *found = state_->layers.find(id);
	return found ? *found : nullptr;
}

ImagePtr Snapshot::image(std::string_view id) const
{
	const auto *found = state_->images.find(id);
	return found ? *found : nullptr;
}

ImagePtr Snapshot::imageByName(std::string_view name) const
{
	auto all = lookupAll(state_->imagesByName, state_->images, name);
	return all.empty() ? nullptr : all.back();
}

std::vector<ImagePtr> Snapshot::imagesByDigest(std::string_view digest) const
{
	return lookupAll(state_->imagesByDigest, state_->images, digest);
}

std::vector<LayerPtr> Snapshot::layersByDigest(std::string_view digest) const
{
	return lookupAll(state_->layersByDigest, state_->layers, digest);
}

std::vector<LayerPtr> Snapshot::chain(std::string_view imageId) const
{
	std::vector<LayerPtr> out;
	auto img = image(imageId);
	if (!img)
		return out;
	// The store never holds a cycle, but a bound costs nothing.
	for (auto layer = this->layer(img->topLayer); layer && out.size() <= 1024; layer = this->layer(layer->parent)) {
		out.push_back(layer);
		if (layer->parent.empty())
			break;
	}
	return out;
}

std::vector<LayerPtr> Snapshot::layers() const { return sortedValues(state_->layers); }
std::vector<ImagePtr> Snapshot::images() const { return sortedValues(state_->images); }

Store::Store() : published_(std::make_shared<const StoreState>()) {}

Snapshot Store::snapshot() const
{
	std::lock_guard lock(mutex_);
	return Snapshot(published_);
}

void Store::publish()
{
	++working_.generation;
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

void Store::Transaction::putLayer(LayerPtr layer)
{
	auto &s = store_.working_;
	removeLayer(layer->id);
	addToIndex(s.layersByDigest, layer->diffDigest, layer->id);
	if (layer->compressedDiffDigest != layer->diffDigest)
		addToIndex(s.layersByDigest, layer->compressedDiffDigest, layer->id);
	s.layers.put(std::move(layer));
	changed_ = true;
}

void Store::Transaction::removeLayer(const std::string &id)
{
	auto &s = store_.working_;
	const auto *old = s.layers.find(id);
	if (!old)
		return;
	LayerPtr layer = *old;
	removeFromIndex(s.layersByDigest, layer->diffDigest, id);
	removeFromIndex(s.layersByDigest, layer->compressedDiffDigest, id);
	s.layers.erase(id);
	changed_ = true;
}

void Store::Transaction::putImage(ImagePtr image)
{
	auto &s = store_.working_;
	removeImage(image->id);
	for (const auto &name : image->names)
		addToIndex(s.imagesByName, name, image->id);
	addToIndex(s.imagesByDigest, image->digest, image->id);
	s.images.put(std::move(image));
	changed_ = true;
}

void Store::Transaction::removeImage(const std::string &id)
{
	auto &s = store_.working_;
	const auto *old = s.images.find(id);
	if (!old)
		return;
	ImagePtr image = *old;
	for (const auto &name : image->names)
		removeFromIndex(s.imagesByName, name, id);
	removeFromIndex(s.imagesByDigest, image->digest, id);
	s.images.erase(id);
	changed_ = true;
}

} // namespace lw

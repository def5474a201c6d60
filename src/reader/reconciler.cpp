// Reconcile: verdicts to ordered store updates and local links.
#include "reconciler.h"

#include "local_links.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace lw {

namespace {

// What the store is to hold of a layer as the validator has it now: what its
// layer.json said (the validator's own block), its overlay's link, and the folders.
detail::CommittedLayer committedLayerOf(const Validator &v, const Id &id)
{
	const OverlayFiles &overlay = *v.overlay(id);
	const LayerFiles &layer = *v.layer(id);
	return {layer.info, overlay.link, overlay.identity.folder, layer.identity.folder};
}

bool isReady(const Verdict *v)
{
	return v && v->ready;
}

} // namespace

Reconciler::Reconciler(int rootFd, Store &store, ReconcileOptions options)
	: rootFd_(rootFd), store_(store), options_(options), validator_(rootFd, options.maxPendingItems)
{
}

std::vector<Event> Reconciler::initialLoad()
{
	std::vector<Event> events;
	if (options_.commitLinks) {
		if (auto removed = links::removeDangling(rootFd_); !removed)
			events.push_back({.type = EventType::Error, .message = "start-up link cleanup: " + removed.error().message});
	}
	auto more = rescan();
	events.insert(events.end(), more.begin(), more.end());
	return events;
}

void EventRecords::shift(std::size_t by)
{
	for (auto &entry : layers)
		entry.first += by;
	for (auto &entry : images)
		entry.first += by;
}

void EventRecords::fillAll(std::vector<Event> &events) const
{
	for (const auto &[at, layer] : layers)
		events[at].layer = layer.unpack();
	for (const auto &[at, image] : images)
		events[at].image = image.unpack();
}

std::vector<Event> Reconciler::adopt(std::vector<ReadResult> results, EventRecords *deferred)
{
	return apply(validator_.adopt(std::move(results)), deferred);
}

std::vector<Event> Reconciler::rescan(Validator::TreeSet trees)
{
	std::vector<Error> errors;
	Touched touched = validator_.rescan(&errors, trees);
	std::vector<Event> events;
	for (auto &e : errors)
		events.push_back({.type = EventType::Error, .message = std::move(e.message), .code = e.code});
	auto more = apply(std::move(touched));
	events.insert(events.end(), more.begin(), more.end());
	return events;
}

std::vector<Event> Reconciler::apply(Touched touched, EventRecords *deferred)
{
	touched.merge(retry_);
	retry_ = {};
	std::vector<Event> events;
	auto before = store_.state();
	// Each event's id and record are made last (the record maybe by the caller, as it
	// tells it), after everything that stays has been made: a load's tens of thousands
	// of them (let go once told) do not lie as holes between what stays.
	EventRecords records;
	std::vector<std::pair<std::size_t, Id>> unnamed;
	auto tell = [&](EventType type, const Id &id) {
		unnamed.emplace_back(events.size(), id);
		events.push_back({.type = type});
	};
	auto tellLayer = [&](EventType type, const Id &id, const detail::CommittedLayer &layer) {
		records.layers.emplace_back(events.size(), layer);
		tell(type, id);
	};
	auto tellImage = [&](EventType type, const Id &id, const PackedImage &image) {
		records.images.emplace_back(events.size(), image);
		tell(type, id);
	};

	// 1. What must leave the store: items no longer ready, changed, or recreated
	// under the same id; and everything committed that stands on a leaving layer.
	std::set<Id> leavingLayers, leavingImages;
	for (const Id &id : touched.layers) {
		const auto *current = before->layers.find(id);
		if (!current)
			continue;
		// The same record and link, from the same folders.
		bool keep = isReady(validator_.layerVerdict(id)) && *current == committedLayerOf(validator_, id);
		if (!keep)
			leavingLayers.insert(id);
		else
			validator_.shareCommitted(id, current->record); // read again, the same
	}
	// Who stands on a leaving layer, by the validator's index of the files: a committed
	// item's record is what its files say (a layer whose record changed leaves, above)
	// unless it is touched now, an image whose update waits for its new top layer
	// (retry_) included. Those are looked at by their committed record.
	std::vector<Id> queue(leavingLayers.begin(), leavingLayers.end());
	for (std::size_t i = 0; i < queue.size(); ++i)
		if (const auto *children = validator_.childrenOf(queue[i]))
			for (const Id &child : *children)
				if (before->layers.find(child) && leavingLayers.insert(child).second)
					queue.push_back(child);
	for (const Id &id : touched.images) {
		const auto *committed = before->images.find(id);
		if (!committed)
			continue;
		const auto *files = validator_.image(id);
		if (!isReady(validator_.imageVerdict(id)) || !sameInode(committed->folder, files->identity.folder) ||
		    leavingLayers.count(*committed->record.topLayerKey()))
			leavingImages.insert(id);
	}
	for (const Id &layer : leavingLayers)
		if (const auto *images = validator_.imagesOn(layer))
			for (const Id &image : *images)
				if (before->images.find(image))
					leavingImages.insert(image);

	// Items never committed whose folder left the share (tellGone): after the images
	// that leave, before the layers that do (a committed layer may have a child that
	// never was; the other way round, never).
	std::vector<Event> goneImages, goneLayers;
	if (auto forgotten = validator_.takeForgotten(); options_.tellGone)
		tellGone(std::move(forgotten), *before, goneImages, goneLayers);
	std::vector<detail::CommittedLayer> removedLayers;
	std::set<Id> removedLayerIds;
	if (!leavingLayers.empty() || !leavingImages.empty() || !goneImages.empty() || !goneLayers.empty()) {
		Store::Transaction tx(store_);
		for (const Id &id : leavingImages) {
			const PackedImage &image = before->images.find(id)->record;
			tx.removeImage(id);
			tellImage(EventType::ImageRemoved, id, image);
		}
		std::move(goneImages.begin(), goneImages.end(), std::back_inserter(events));
		std::move(goneLayers.begin(), goneLayers.end(), std::back_inserter(events));
		// Children before parents: deepest first, by their depth in the store.
		std::vector<std::pair<std::size_t, Id>> ordered;
		for (const Id &id : leavingLayers) {
			std::size_t depth = 0;
			const auto *l = before->layers.find(id);
			for (auto parent = l->record.parentKey(); parent && depth <= kMaxChainDepth; ++depth) {
				l = before->layers.find(*parent);
				parent = l ? l->record.parentKey() : std::nullopt;
			}
			ordered.emplace_back(depth, id);
		}
		std::sort(ordered.begin(), ordered.end(), [](const auto &a, const auto &b) {
			return a.first != b.first ? a.first > b.first : a.second < b.second;
		});
		for (const auto &[depth, id] : ordered) {
			const auto &layer = *before->layers.find(id);
			tx.removeLayer(id);
			removedLayers.push_back(layer);
			removedLayerIds.insert(id);
			tellLayer(EventType::LayerRemoved, id, layer);
		}
	}
	// The store has let go: now the links may go.
	if (options_.commitLinks)
		for (const auto &layer : removedLayers)
			if (auto r = links::remove(rootFd_, layer.record.id(), layer.link.view()); !r)
				events.push_back({.type = EventType::Error, .message = "removing links: " + r.error().message});

	// 2. What may enter: ready layers parent-first, each after its links exist;
	// then ready images whose top layer is in.
	std::vector<std::pair<std::size_t, Id>> arriving;
	auto mayArrive = [&](const Id &id) {
		if (const auto *v = validator_.layerVerdict(id); isReady(v))
			arriving.emplace_back(v->depth, id);
	};
	std::for_each(touched.layers.begin(), touched.layers.end(), mayArrive);
	std::for_each(leavingLayers.begin(), leavingLayers.end(), mayArrive);
	std::sort(arriving.begin(), arriving.end());
	arriving.erase(std::unique(arriving.begin(), arriving.end()), arriving.end());

	IdSet imageCandidates = touched.images;
	imageCandidates.insert(leavingImages.begin(), leavingImages.end());
	// At most one event for each that may arrive (a load's tens of thousands: no
	// doubling of the vector on the way).
	events.reserve(events.size() + arriving.size() + imageCandidates.size());
	records.layers.reserve(records.layers.size() + arriving.size());
	records.images.reserve(records.images.size() + imageCandidates.size());
	unnamed.reserve(unnamed.size() + arriving.size() + imageCandidates.size());
	{
		Store::Transaction tx(store_);
		for (const auto &[depth, id] : arriving) {
			if (tx.state().layers.find(id))
				continue;
			forgetCommitProblem(ItemKind::Layer, id);
			auto info = committedLayerOf(validator_, id);
			std::string problem;
			auto parent = info.record.parentKey(); // ready: an id or none
			if (parent && !tx.state().layers.find(*parent))
				problem = fmt::format("layer.json: parent {} not committed", parent->hex());
			else if (options_.commitLinks)
				if (auto r = links::create(rootFd_, id.hex(), info.link.view()); !r)
					problem = "links: " + r.error().message;
			if (!problem.empty()) {
				commitProblems_[{ItemKind::Layer, id.hex()}] = problem;
				retry_.layers.insert(id);
				touched.layers.insert(id);
				continue;
			}
			tx.putLayer(info);
			tellLayer(EventType::LayerAdded, id, info);
		}
		for (const Id &id : imageCandidates) {
			forgetCommitProblem(ItemKind::Image, id);
			if (!isReady(validator_.imageVerdict(id)))
				continue;
			const auto *files = validator_.image(id);
			const PackedImage &info = files->info; // the store shares the validator's
			const Id top = *info.topLayerKey(); // ready: an id
			if (!tx.state().layers.find(top)) {
				commitProblems_[{ItemKind::Image, id.hex()}] =
					fmt::format("images.json: layer {} not committed", top.hex());
				retry_.images.insert(id);
				continue;
			}
			const auto *existing = tx.state().images.find(id);
			if (existing && existing->record == info) {
				// Read again, the same (from the same folder: a new one has left above).
				validator_.shareCommitted(id, existing->record);
				continue;
			}
			tx.putImage({info, files->identity.folder});
			tellImage(existing ? EventType::ImageUpdated : EventType::ImageAdded, id, info);
		}
	}
	touched.images.insert(imageCandidates);
	for (const auto &[at, id] : unnamed)
		events[at].id = id.hex();
	reportPending(touched, removedLayerIds, events);
	if (deferred)
		*deferred = std::move(records);
	else
		records.fillAll(events);
	return events;
}

void Reconciler::tellGone(Validator::Forgotten forgotten, const detail::StoreState &committed,
			  std::vector<Event> &images, std::vector<Event> &layers) const
{
	auto gone = [&](ItemKind kind, const Id &id) {
		return Event{.type = EventType::Gone, .id = id.hex(), .kind = kind};
	};
	for (const Id &id : forgotten.images)
		if (!validator_.holds(Tree::Images, id.hex()) && !committed.images.find(id))
			images.push_back(gone(ItemKind::Image, id));
	// Children before parents, by their parents as last read: each after every gone
	// layer that named it (depth among the gone ones, deepest first).
	auto &parents = forgotten.layers;
	std::erase_if(parents, [&](const auto &entry) {
		return validator_.holds(Tree::Layers, entry.first.hex()) || committed.layers.find(entry.first);
	});
	std::vector<std::pair<std::size_t, Id>> ordered;
	for (const auto &[id, parent] : parents) {
		std::size_t depth = 0;
		for (auto up = parent; up && depth <= kMaxChainDepth; ++depth) {
			auto it = parents.find(*up);
			if (it == parents.end())
				break;
			up = it->second;
		}
		ordered.emplace_back(depth, id);
	}
	std::sort(ordered.begin(), ordered.end(), [](const auto &a, const auto &b) {
		return a.first != b.first ? a.first > b.first : a.second < b.second;
	});
	for (const auto &entry : ordered)
		layers.push_back(gone(ItemKind::Layer, entry.second));
}

void Reconciler::forgetCommitProblem(ItemKind kind, const Id &id)
{
	if (!commitProblems_.empty())
		commitProblems_.erase({kind, id.hex()});
}

bool Reconciler::shelvedAndReported(Tree tree, const std::string &id) const
{
	return tree == Tree::Layers && reported_.count({ItemKind::Layer, id});
}

std::size_t Reconciler::pendingCount() const
{
	std::size_t count = reported_.size();
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images})
		for (const auto &entry : validator_.shelved(tree))
			count += !shelvedAndReported(tree, entry.first.hex());
	return count;
}

std::vector<PendingItem> Reconciler::pending() const
{
	std::vector<PendingItem> out;
	out.reserve(reported_.size());
	for (const auto &[key, reason] : reported_)
		out.push_back({key.first, key.second, reason});
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images}) {
		ItemKind kind = tree == Tree::Overlay ? ItemKind::Overlay : tree == Tree::Layers ? ItemKind::Layer : ItemKind::Image;
		std::string reason = validator_.shelvedReason(tree);
		for (const auto &entry : validator_.shelved(tree))
			if (std::string id = entry.first.hex(); !shelvedAndReported(tree, id))
				out.push_back({kind, std::move(id), reason});
	}
	return out;
}

void Reconciler::notePending(ItemKind kind, const std::string &id, const std::string &reason,
			     std::vector<Event> &events)
{
	auto key = std::make_pair(kind, id);
	if (reason.empty()) {
		reported_.erase(key);
		return;
	}
	auto [it, inserted] = reported_.try_emplace(key, reason);
	if (!inserted && it->second == reason)
		return; // told already
	it->second = reason;
	events.push_back({.type = EventType::Pending, .id = id, .kind = kind, .reason = reason});
}

void Reconciler::reportPending(const Touched &touched, const std::set<Id> &removedLayers,
			       std::vector<Event> &events)
{
	auto reasonOf = [&](ItemKind kind, const std::string &id, const Verdict *v) -> std::string {
		if (!v)
			return {}; // gone: nothing pending
		if (!v->ready)
			return v->reason;
		auto it = commitProblems_.find({kind, id});
		return it == commitProblems_.end() ? std::string() : it->second;
	};
	for (const Id &id : touched.overlays) {
		auto verdict = validator_.overlayVerdict(id);
		std::string hex = id.hex();
		notePending(ItemKind::Overlay, hex, reasonOf(ItemKind::Overlay, hex, verdict ? &*verdict : nullptr), events);
	}
	for (const Id &id : touched.layers) {
		std::size_t told = events.size();
		std::string hex = id.hex();
		notePending(ItemKind::Layer, hex, reasonOf(ItemKind::Layer, hex, validator_.layerVerdict(id)), events);
		// A layer that left the store just now is on its way out (the writer removes
		// its folders one after the other): what is left of it is counted, not told.
		if (events.size() > told && removedLayers.count(id))
			events.pop_back();
	}
	for (const Id &id : touched.images) {
		std::string hex = id.hex();
		notePending(ItemKind::Image, hex, reasonOf(ItemKind::Image, hex, validator_.imageVerdict(id)), events);
	}
}

} // namespace lw

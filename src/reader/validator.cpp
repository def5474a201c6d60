// The staged validator: overlay -> layer -> image readiness, kept incrementally.
#include "validator.h"

#include "dependency_index.h"
#include "safe_fs.h"
#include "tree_reader.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <system_error>
#include <thread>
#include <tuple>

namespace lw {

namespace {

// What a tree's items are probed for first, whatever else they hold.
ProbeNames probeNamesOf(Tree tree, const std::string &id)
{
	if (tree == Tree::Overlay)
		return overlayProbeNames();
	if (tree == Tree::Layers)
		return layerProbeNames(id);
	return imageProbeNames();
}

template <class Map, class Key>
const typename Map::mapped_type *findIn(const Map &map, const Key &key)
{
	auto it = map.find(key);
	return it == map.end() ? nullptr : &it->second;
}

// By a hex id from outside: nothing for what is no id.
template <class Get>
auto byHex(const std::string &hex, Get get) -> decltype(get(Id{}))
{
	auto id = Id::parse(hex);
	return id ? get(*id) : nullptr;
}

// What the files name, when it is an id.
std::optional<Id> parentOf(const LayerFiles &files)
{
	return files.info ? files.info.parentKey() : std::nullopt;
}
std::optional<Id> topLayerOf(const ImageFiles &files)
{
	return files.info ? files.info.topLayerKey() : std::nullopt;
}

void insertAll(IdSet &into, const Dependants &ids)
{
	into.insert(ids.begin(), ids.end());
}


} // namespace

void Touched::merge(const Touched &other)
{
	overlays.insert(other.overlays);
	layers.insert(other.layers);
	images.insert(other.images);
}

Validator::Validator(int rootFd, std::size_t maxPendingItems) : rootFd_(rootFd), maxPendingItems_(maxPendingItems) {}

std::string Validator::shelvedReason(Tree tree) const
{
	return fmt::format("not read in full: {} holds more than {} items whose files are unusable",
			   treeName(tree), maxPendingItems_);
}

// The reason a layer gives for a half that is shelved; empty when it is not.
std::string Validator::shelvedHalf(Tree tree, const Id &id) const
{
	if (!shelved_[static_cast<int>(tree)].count(id))
		return {};
	return fmt::format("{}: {}", tree == Tree::Overlay ? "overlay" : "layer.json", shelvedReason(tree));
}

// Shelves an item read with unusable files when its tree is full of them; false when
// it is to be kept in full (and counted). The shelf keeps the identity of the files
// every item of the tree is probed for (probeNamesOf), and nothing else. What the
// change touches, forget() (which adopt() calls first) has already marked.
bool Validator::shelve(Tree tree, const Id &id, const ItemState &state)
{
	int t = static_cast<int>(tree);
	if (state.problem.empty())
		return false;
	if (unusable_[t] < maxPendingItems_) {
		++unusable_[t];
		return false;
	}
	Identity identity = state.identity;
	// The files beyond those names (an image's big data) are dropped; files not looked
	// at (the folder is no folder) are absent, as the next probe will find them.
	identity.files.resize(probeNamesOf(tree, id.hex()).size());
	shelved_[t].emplace(id, std::move(identity));
	return true;
}

std::optional<Verdict> Validator::overlayVerdict(const Id &id) const
{
	const OverlayFiles *files = overlay(id);
	return files ? std::optional<Verdict>(Verdict{files->problem.empty(), files->problem, 0}) : std::nullopt;
}
const Validator::KeptLayer *Validator::keptLayer(const Id &id) const { return findIn(layers_, id); }
bool Validator::holdsLayer(const Id &id) const
{
	const KeptLayer *kept = keptLayer(id);
	return kept && (kept->hasOverlay || kept->hasLayer);
}
const Verdict *Validator::layerVerdict(const Id &id) const
{
	const KeptLayer *kept = keptLayer(id);
	return kept && kept->judged ? &kept->verdict : nullptr;
}
const Verdict *Validator::imageVerdict(const Id &id) const
{
	const KeptImage *kept = findIn(images_, id);
	return kept ? &kept->verdict : nullptr;
}
const OverlayFiles *Validator::overlay(const Id &id) const
{
	const KeptLayer *kept = keptLayer(id);
	return kept && kept->hasOverlay ? &kept->overlay : nullptr;
}
const LayerFiles *Validator::layer(const Id &id) const
{
	const KeptLayer *kept = keptLayer(id);
	return kept && kept->hasLayer ? &kept->layer : nullptr;
}
const ImageFiles *Validator::image(const Id &id) const { return findIn(images_, id); }

const Verdict *Validator::layerVerdict(const std::string &id) const
{
	return byHex(id, [this](const Id &parsed) { return layerVerdict(parsed); });
}
const Verdict *Validator::imageVerdict(const std::string &id) const
{
	return byHex(id, [this](const Id &parsed) { return imageVerdict(parsed); });
}
const OverlayFiles *Validator::overlay(const std::string &id) const
{
	return byHex(id, [this](const Id &parsed) { return overlay(parsed); });
}
const LayerFiles *Validator::layer(const std::string &id) const
{
	return byHex(id, [this](const Id &parsed) { return layer(parsed); });
}
const ImageFiles *Validator::image(const std::string &id) const
{
	return byHex(id, [this](const Id &parsed) { return image(parsed); });
}

void Validator::forget(Tree tree, const Id &id, Touched &touched)
{
	int t = static_cast<int>(tree);
	++versions_[t];
	bool held = shelved_[t].erase(id) > 0;
	if (const ItemState *state = known(tree, id); state && !state->problem.empty())
		--unusable_[t];
	switch (tree) {
	case Tree::Overlay:
		if (auto it = layers_.find(id); it != layers_.end() && it->second.hasOverlay) {
			unclaim(id, it->second.overlay, touched);
			it->second.overlay = {};
			it->second.hasOverlay = false;
		}
		touched.overlays.insert(id);
		touched.layers.insert(id);
		break;
	case Tree::Layers: {
		std::optional<Id> parent;
		if (auto it = layers_.find(id); it != layers_.end() && it->second.hasLayer) {
			parent = parentOf(it->second.layer);
			if (parent)
				childrenOf_.remove(*parent, id);
			it->second.layer = {};
			it->second.hasLayer = false;
			held = true;
		}
		touched.layers.insert(id);
		if (held)
			forgotten_.layers[id] = parent;
		break;
	}
	case Tree::Images:
		if (auto it = images_.find(id); it != images_.end()) {
			if (auto top = topLayerOf(it->second))
				imagesOf_.remove(*top, id);
			images_.erase(it);
			partlyRead_.erase(id);
			held = true;
		}
		touched.images.insert(id);
		if (held)
			forgotten_.images.insert(id);
		break;
	}
}

void Validator::adopt(Tree tree, const Id &id, ItemFiles files, Touched &touched)
{
	forget(tree, id, touched);
	// Gone since it was listed, or never there: the same as removed.
	auto gone = [](const ItemState &state) { return state.identity.folder.ino == 0; };
	if (gone(stateOf(files)) || shelve(tree, id, stateOf(files)))
		return;
	if (auto *overlay = std::get_if<OverlayFiles>(&files)) {
		claim(id, *overlay, touched);
		KeptLayer &kept = layers_[id];
		kept.overlay = std::move(*overlay);
		kept.hasOverlay = true;
	} else if (auto *layer = std::get_if<LayerFiles>(&files)) {
		if (auto parent = parentOf(*layer))
			childrenOf_.add(*parent, id);
		KeptLayer &kept = layers_[id];
		kept.layer = std::move(*layer);
		kept.hasLayer = true;
	} else if (auto *image = std::get_if<ImageFiles>(&files)) {
		if (auto top = topLayerOf(*image))
			imagesOf_.add(*top, id);
		if (image->restChecked)
			partlyRead_.insert(id);
		images_.emplace(id, KeptImage{std::move(*image), {}});
	}
}

void Validator::claim(const Id &id, const OverlayFiles &overlay, Touched &touched)
{
	if (!overlay.problem.empty())
		return;
	// A link's one claimant holds it unnamed (holderOf_). A second one coming names
	// the first, if it held the link before this step (rather than came in it too:
	// then the earlier of the two takes it, in settle()).
	if (const auto *before = claimsOf_.find(overlay.link); before && before->size() == 1 &&
	    !holderOf_.count(overlay.link) && !claimedInStep_.count(*before->begin()))
		holderOf_.emplace(overlay.link, *before->begin());
	claimsOf_.add(overlay.link, id);
	claimedInStep_.insert(id);
	insertAll(touched.layers, *claimsOf_.find(overlay.link));
}

void Validator::unclaim(const Id &id, const OverlayFiles &overlay, Touched &touched)
{
	if (!overlay.problem.empty())
		return;
	claimsOf_.remove(overlay.link, id);
	// The holder stays named: read again (a re-read forgets, then adopts) it keeps its
	// link, whatever its times now say. chooseHolder() moves it only if it left.
	if (auto *rest = claimsOf_.find(overlay.link))
		insertAll(touched.layers, *rest);
	else
		holderOf_.erase(overlay.link);
}

void Validator::chooseHolder(const ShortLink &link)
{
	const auto *claimants = claimsOf_.find(link);
	if (!claimants || claimants->size() == 1) {
		holderOf_.erase(link); // none, or the one claimant: it holds the link unnamed
		return;
	}
	if (auto h = holderOf_.find(link);
	    h != holderOf_.end() && std::binary_search(claimants->begin(), claimants->end(), h->second))
		return;
	const Id *best = nullptr;
	std::int64_t bestBorn = 0;
	for (const Id &id : *claimants) {
		std::int64_t born = layers_.at(id).overlay.linkBornNs;
		if (!best || born < bestBorn || (born == bestBorn && id < *best))
			best = &id, bestBorn = born;
	}
	holderOf_[link] = *best;
}

ReadRequest Validator::plan(Tree tree, bool list, const std::vector<std::string> &read,
			   const std::vector<std::string> &recheck) const
{
	ReadRequest request;
	request.tree = tree;
	request.list = list;
	// Settled: its own files are usable.
	auto copyOf = [](const Id &id, const ItemState &state) {
		return ReadRequest::Known{id, state.probeNames, state.identity, state.problem.empty()};
	};
	auto copyOfShelved = [tree](const Id &id, const Identity &identity) {
		return ReadRequest::Known{id, probeNamesOf(tree, id.hex()), identity, false};
	};
	if (list) {
		auto known = std::make_shared<std::vector<ReadRequest::Known>>();
		if (tree == Tree::Images) {
			known->reserve(images_.size());
			for (const auto &[id, state] : images_)
				known->push_back(copyOf(id, state));
		} else {
			known->reserve(layers_.size());
			for (const auto &[id, kept] : layers_)
				if (const ItemState *state = kept.half(tree))
					known->push_back(copyOf(id, *state));
		}
		for (const auto &[id, identity] : shelved(tree))
			known->push_back(copyOfShelved(id, identity));
		request.known = std::move(known);
	}
	for (const auto &id : read)
		if (isValidId(id))
			request.read.push_back(id);
	for (const auto &hex : recheck) {
		auto id = Id::parse(hex);
		if (!id)
			continue;
		if (const ItemState *state = known(tree, *id))
			request.recheck.push_back(copyOf(*id, *state));
		else if (const Identity *identity = findIn(shelved(tree), *id))
			request.recheck.push_back(copyOfShelved(*id, *identity));
		else
			request.recheck.push_back(ReadRequest::Known{*id, {}, {}, false});
	}
	attachPartlyRead(request);
	return request;
}

void Validator::attachPartlyRead(ReadRequest &request) const
{
	request.partlyRead.reset();
	if (request.tree != Tree::Images || partlyRead_.empty())
		return;
	// A listing may read any of them; otherwise only those asked for.
	auto partly = std::make_shared<std::unordered_map<Id, ImageFiles, IdHash>>();
	auto add = [&](const Id &id) {
		if (partlyRead_.count(id))
			partly->emplace(id, images_.at(id));
	};
	if (request.list)
		std::for_each(partlyRead_.begin(), partlyRead_.end(), add);
	for (const auto &hex : request.read)
		if (auto id = Id::parse(hex))
			add(*id);
	for (const auto &known : request.recheck)
		add(known.id);
	if (!partly->empty())
		request.partlyRead = std::move(partly);
}

Touched Validator::adopt(ReadResult result)
{
	std::vector<ReadResult> one;
	one.push_back(std::move(result));
	return adopt(std::move(one));
}

Touched Validator::adopt(std::vector<ReadResult> results)
{
	Touched touched;
	for (auto &result : results)
		adoptItems(std::move(result), touched);
	settle(touched);
	return touched;
}

void Validator::adoptItems(ReadResult result, Touched &touched)
{
	// The reader lists and reads only valid ids.
	for (const auto &hex : result.gone)
		if (auto id = Id::parse(hex))
			forget(result.tree, *id, touched);
	for (auto &item : result.items) {
		auto id = Id::parse(item.id);
		if (id && !stateOf(item.files).ioError)
			adopt(result.tree, *id, std::move(item.files), touched);
	}
}

Touched Validator::readNow(const ReadRequest &request, std::vector<Error> *errors)
{
	ReadResult result = readTree(rootFd_, request);
	if (errors) {
		if (result.treeError.code)
			errors->push_back(result.treeError);
		for (const auto &item : result.items)
			if (const ItemState &s = stateOf(item.files); s.ioError)
				errors->push_back({s.ioError, fmt::format("{}/{}: {}", treeName(result.tree), item.id, s.problem.str())});
	}
	return adopt(std::move(result));
}

Touched Validator::rescan(std::vector<Error> *errors, TreeSet trees)
{
	Touched touched;
	for (Tree tree : {Tree::Overlay, Tree::Layers, Tree::Images})
		if (trees[static_cast<int>(tree)])
			touched.merge(readNow(plan(tree, true), errors));
	return touched;
}

void Validator::shareCommitted(const Id &id, const PackedLayer &committed)
{
	auto it = layers_.find(id);
	if (it != layers_.end() && it->second.hasLayer && it->second.layer.info && it->second.layer.info == committed)
		it->second.layer.info = committed;
}

void Validator::shareCommitted(const Id &id, const PackedImage &committed)
{
	auto it = images_.find(id);
	if (it != images_.end() && it->second.info && it->second.info == committed)
		it->second.info = committed;
}

const ItemState *Validator::known(Tree tree, const Id &id) const
{
	if (tree == Tree::Overlay)
		return overlay(id);
	if (tree == Tree::Layers)
		return layer(id);
	return findIn(images_, id);
}

const ItemState *Validator::known(Tree tree, const std::string &id) const
{
	auto parsed = Id::parse(id);
	return parsed ? known(tree, *parsed) : nullptr;
}

bool Validator::holds(Tree tree, const std::string &id) const
{
	return known(tree, id) || isShelved(tree, id);
}

bool Validator::isShelved(Tree tree, const std::string &id) const
{
	return byHex(id, [&](const Id &parsed) { return findIn(shelved(tree), parsed); }) != nullptr;
}

std::vector<std::string> Validator::ids(Tree tree) const
{
	std::vector<std::string> out;
	if (tree == Tree::Images) {
		out.reserve(images_.size());
		for (const auto &entry : images_)
			out.push_back(entry.first.hex());
	} else {
		for (const auto &[id, kept] : layers_)
			if (kept.half(tree))
				out.push_back(id.hex());
	}
	for (const auto &entry : shelved(tree))
		out.push_back(entry.first.hex());
	return out;
}

Touched Validator::refresh(Tree tree, const std::string &id)
{
	return readNow(plan(tree, false, {id}), nullptr);
}

void Validator::settle(Touched &touched)
{
	// Everything that depends on a touched layer: its children, theirs, and the
	// images on top of any of them.
	std::vector<Id> queue(touched.layers.begin(), touched.layers.end());
	{
		// The ones found have a set of their own while the walk reads touched.layers,
		// which takes them all at the end.
		std::size_t given = queue.size();
		std::unordered_set<Id, IdHash> found;
		for (std::size_t i = 0; i < queue.size(); ++i) {
			if (auto *children = childrenOf_.find(queue[i]))
				for (const Id &child : *children)
					if (!touched.layers.contains(child) && found.insert(child).second)
						queue.push_back(child);
		}
		touched.layers.insert(queue.begin() + static_cast<std::ptrdiff_t>(given), queue.end());
	}
	for (const Id &layer : queue)
		if (auto *images = imagesOf_.find(layer))
			insertAll(touched.images, *images);

	for (const Id &id : queue) {
		auto it = layers_.find(id);
		if (it == layers_.end())
			continue;
		KeptLayer &kept = it->second;
		if (!kept.hasOverlay && !kept.hasLayer) {
			layers_.erase(it); // both halves gone: nothing left to judge
			continue;
		}
		kept.judged = false;
		kept.verdict = {};
		if (kept.hasOverlay && kept.overlay.problem.empty())
			chooseHolder(kept.overlay.link);
	}
	claimedInStep_.clear();
	for (const Id &id : queue)
		if (holdsLayer(id))
			evaluateLayer(id);
	for (const Id &id : touched.images) {
		if (auto it = images_.find(id); it != images_.end())
			it->second.verdict = judgeImage(id);
	}
}

const Verdict &Validator::evaluateLayer(const Id &id)
{
	if (const Verdict *known = layerVerdict(id))
		return *known;
	// Walk up to the first ancestor already judged (or a base, or a gap), then judge
	// on the way back down: parents before children, with no recursion.
	// A cycle is looked for along the path walked: by a scan while it is short (what
	// is allocated here among the verdicts kept would stay as holes in the heap), by
	// a map once it is long (a chain of any length can be written).
	constexpr std::size_t kScanned = 64;
	std::vector<Id> path;
	ById<std::size_t> position; // once the path is longer than kScanned
	auto seenAt = [&](const Id &layer) -> std::optional<std::size_t> {
		if (path.size() <= kScanned) {
			auto p = std::find(path.begin(), path.end(), layer);
			return p == path.end() ? std::nullopt : std::optional<std::size_t>(p - path.begin());
		}
		if (position.empty())
			for (std::size_t i = 0; i < path.size(); ++i)
				position.emplace(path[i], i);
		auto p = position.find(layer);
		return p == position.end() ? std::nullopt : std::optional<std::size_t>(p->second);
	};
	std::optional<std::size_t> cycleStart;
	Id current = id;
	for (;;) {
		if (layerVerdict(current))
			break;
		if (auto at = seenAt(current)) {
			cycleStart = at;
			break;
		}
		if (!position.empty())
			position.emplace(current, path.size());
		path.push_back(current);
		const LayerFiles *files = layer(current);
		if (!files || !files->problem.empty())
			break;
		auto parent = parentOf(*files);
		if (!parent || !holdsLayer(*parent))
			break;
		current = *parent;
	}
	// Every layer on the path holds a half (a parent is walked to only then).
	auto judged = [&](const Id &layer, Verdict verdict) {
		KeptLayer &kept = layers_.at(layer);
		kept.verdict = std::move(verdict);
		kept.judged = true;
	};
	std::size_t end = path.size();
	if (cycleStart) {
		for (std::size_t i = *cycleStart; i < path.size(); ++i)
			judged(path[i], {false, "layer.json: parent chain has a cycle", 0});
		end = *cycleStart;
	}
	for (std::size_t i = end; i-- > 0;)
		judged(path[i], judgeLayer(path[i]));
	return layers_.at(id).verdict;
}

// One layer, its parent already judged.
Verdict Validator::judgeLayer(const Id &id) const
{
	auto notReady = [](std::string reason) { return Verdict{false, std::move(reason), 0}; };
	const OverlayFiles *overlay = this->overlay(id);
	const LayerFiles *files = layer(id);
	if (!overlay) {
		std::string shelvedOverlay = shelvedHalf(Tree::Overlay, id);
		return notReady(!shelvedOverlay.empty() ? shelvedOverlay
							: fmt::format("overlay: missing (no {}/{})", paths::kOverlayRO, id.hex()));
	}
	if (!overlay->problem.empty())
		return notReady("overlay: " + overlay->problem.str());
	if (const auto *holder = findIn(holderOf_, overlay->link); holder && *holder != id)
		return notReady(fmt::format("link: already used by {}", holder->hex()));
	if (!files) {
		std::string shelvedLayer = shelvedHalf(Tree::Layers, id);
		return notReady(!shelvedLayer.empty() ? shelvedLayer
						      : fmt::format("layer.json: missing (no {}/{})", paths::kLayersRO, id.hex()));
	}
	if (!files->problem.empty())
		return notReady(files->problem);
	const auto parentKey = files->info.parentKey(); // usable: parsed, an id or none
	if (!parentKey) {
		if (!overlay->lower.empty())
			return notReady(fmt::format("lower: lists {} layers but layer.json has no parent",
						    overlay->lower.size()));
		return Verdict{true, {}, 0};
	}
	const Id &parentId = *parentKey;
	const Verdict *parentVerdict = layerVerdict(parentId);
	if (!parentVerdict || !parentVerdict->ready)
		return notReady(fmt::format("layer.json: parent {} not ready", parentId.hex()));
	if (parentVerdict->depth + 1 > kMaxChainDepth)
		return notReady(fmt::format("layer.json: parent chain deeper than {}", kMaxChainDepth));
	// lower must list exactly the parent chain's links, nearest first.
	const OverlayFiles *parentOverlay = this->overlay(parentId);
	bool matches = parentOverlay && overlay->lower.size() == parentOverlay->lower.size() + 1 &&
		       overlay->lower.front() == parentOverlay->link &&
		       std::equal(parentOverlay->lower.begin(), parentOverlay->lower.end(), overlay->lower.begin() + 1);
	if (!matches)
		return notReady(overlay->lower.empty() ? std::string("lower: missing for a layer with a parent")
						       : std::string("lower: does not list the parent chain's links"));
	return Verdict{true, {}, parentVerdict->depth + 1};
}

Verdict Validator::judgeImage(const Id &id)
{
	const auto &files = images_.at(id);
	if (!files.problem.empty())
		return {false, files.problem, 0};
	const Id topId = *files.info.topLayerKey(); // usable: parsed, and checked an id
	if (!holdsLayer(topId))
		return {false, fmt::format("images.json: layer {} not ready (missing)", topId.hex()), 0};
	if (!evaluateLayer(topId).ready)
		return {false, fmt::format("images.json: layer {} not ready", topId.hex()), 0};
	return {true, {}, 0};
}

} // namespace lw

// Reading one shared tree off the loop thread: listing, probes, item files.
#include "tree_reader.h"

#include "safe_fs.h"
#include "sys.h"

#include <layerwatch/model.h>

#include <fmt/format.h>

#include <sys/vfs.h>

#include <ctime>

#include <algorithm>
#include <functional>
#include <chrono>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace lw {

ItemFiles readItem(Tree tree, int treeFd, const std::string &id, int folderFlags, const ImageFiles *partlyRead)
{
	switch (tree) {
	case Tree::Overlay:
		return readOverlayFiles(treeFd, id, folderFlags);
	case Tree::Layers:
		return readLayerFiles(treeFd, id, folderFlags);
	case Tree::Images:
		break;
	}
	return readImageFiles(treeFd, id, folderFlags, partlyRead);
}

ItemFiles troubleReading(Tree tree, int err, std::string message)
{
	ItemFiles files;
	if (tree == Tree::Layers)
		files = LayerFiles{};
	else if (tree == Tree::Images)
		files = ImageFiles{};
	stateOf(files).ioError = err;
	stateOf(files).problem = std::move(message);
	return files;
}

namespace {

bool cancelled(const CancelFlag &cancel)
{
	return cancel && cancel->load(std::memory_order_relaxed);
}

void progressed(const ReadRequest &request)
{
	if (request.progress)
		request.progress->store(std::chrono::duration_cast<std::chrono::milliseconds>(
						std::chrono::steady_clock::now().time_since_epoch())
						.count(),
					std::memory_order_relaxed);
}

// Reading is I/O-bound and independent per id, so a large batch (a start-up load, a
// storm's rescan, the probes of a changed tree) runs on up to `parallel` threads,
// joined before this returns: on a network share each waits for its own round trips.
// each(i) is called once for every i below count.
void forEachParallel(const ReadRequest &request, std::size_t count, const std::function<void(std::size_t)> &each)
{
	constexpr std::size_t kParallelFrom = 64;
	std::atomic<std::size_t> next{0};
	auto work = [&] {
		sys::ScopedCallTally tally(request.calls.get());
		for (std::size_t i; (i = next++) < count;) {
			each(i);
			progressed(request);
		}
	};
	std::vector<std::thread> helpers;
	if (count >= kParallelFrom && request.parallel > 1) {
		unsigned threads = std::min<std::size_t>(request.parallel, count / 16 + 1);
		try {
			for (unsigned k = 1; k < threads; ++k)
				helpers.emplace_back(work);
		} catch (const std::system_error &) {
			// No thread to be had: this one does the rest alone.
		}
	}
	work();
	for (auto &t : helpers)
		t.join();
}

// Reads each of ids into an item of its own, appended to items. Straight into them:
// a load's ten thousand results, read into a vector of their own first, were a second
// block of megabytes on the worker's heap (kept resident by malloc once let go).
void readAll(const ReadRequest &request, int fd, std::vector<std::string> ids, const CancelFlag &cancel,
	     std::vector<ItemRead> &items)
{
	// On a network share the folder's attributes are asked of the server: a folder
	// made anew under its id may still show the old one's cached attributes, and an
	// identity taken from them would look changed once the cache expires (a second
	// removal and addition).
	int folderFlags = request.forceFresh ? AT_STATX_FORCE_SYNC : 0;
	auto partlyRead = [&](const std::string &hex) -> const ImageFiles * {
		if (!request.partlyRead)
			return nullptr;
		auto id = Id::parse(hex);
		auto it = id ? request.partlyRead->find(*id) : request.partlyRead->end();
		return it == request.partlyRead->end() ? nullptr : &it->second;
	};
	std::size_t first = items.size();
	items.resize(first + ids.size());
	forEachParallel(request, ids.size(), [&](std::size_t i) {
		ItemRead &item = items[first + i];
		item.files = cancelled(cancel) ? troubleReading(request.tree, ECANCELED, "cancelled")
					       : readItem(request.tree, fd, ids[i], folderFlags, partlyRead(ids[i]));
		item.id = std::move(ids[i]);
	});
}

// Whether an item looks as it did. On a network share a settled item is judged by its
// folder alone, asked of the server (attributes may be cached for a minute): files are
// replaced by a rename inside the folder, which changes it (DESIGN.md section 4).
bool unchanged(int fd, const ReadRequest::Known &known, bool forceFresh)
{
	if (forceFresh && known.settled) {
		FileId folder = statId(fd, known.id.hex(), AT_STATX_FORCE_SYNC);
		return folder == known.identity.folder;
	}
	return probeIdentity(fd, known.id.hex(), known.probeNames.list()) == known.identity;
}

} // namespace

ReadResult readTree(int rootFd, const ReadRequest &request, const CancelFlag &cancel)
{
	sys::ScopedCallTally tally(request.calls.get());
	ReadResult result;
	result.tree = request.tree;
	const char *name = treeName(request.tree);
	auto opened = fs::openDir(rootFd, name);
	if (!opened) {
		if (fs::isAbsence(opened.error().code)) {
			// No tree (yet): everything once in it is gone, and so is what was asked.
			if (request.known)
				for (const auto &k : *request.known)
					result.gone.push_back(k.id.hex());
			for (const auto &id : request.read)
				result.gone.push_back(id);
			for (const auto &k : request.recheck)
				result.gone.push_back(k.id.hex());
			result.listed = request.list;
		} else {
			result.treeError = makeError(opened.error().code, opened.error().message);
		}
		return result;
	}
	int fd = opened->get();
	struct statfs sf;
	if (::fstatfs(fd, &sf) < 0) {
		result.treeError = makeError(errno, fmt::format("{}: statfs: {}", name, fs::describeErrno(errno)));
		return result;
	}
	result.fsMagic = static_cast<long>(sf.f_type);
	if (request.expectFsMagic != 0 && result.fsMagic != request.expectFsMagic) {
		result.treeError = makeError(ESTALE, fmt::format("{}: now on another filesystem (type {:#x}, was {:#x}): "
								 "not mounted?",
								 name, static_cast<unsigned long>(result.fsMagic) & 0xffffffffUL,
								 static_cast<unsigned long>(request.expectFsMagic) & 0xffffffffUL));
		return result;
	}

	std::vector<std::string> toRead = request.read;
	for (const auto &k : request.recheck) {
		if (cancelled(cancel))
			break;
		std::string id = k.id.hex();
		FileId folder = statId(fd, id);
		if (folder.error)
			result.items.push_back({id, troubleReading(request.tree, folder.error,
								   fmt::format("{}/{}: {}", name, id,
									       fs::describeErrno(folder.error)))});
		else if (folder.ino == 0 && k.identity.folder.ino == 0)
			continue; // unknown and still absent
		else if (folder.ino == 0)
			result.gone.push_back(std::move(id));
		else if (!unchanged(fd, k, request.forceFresh))
			toRead.push_back(std::move(id));
	}

	if (request.list) {
		// The folder first, fresh from the server: its attributes say whether the
		// listing can have changed.
		FileId folder = statId(fd, ".", AT_STATX_FORCE_SYNC);
		if (folder.error) {
			result.treeError = makeError(folder.error, fmt::format("{}: {}", name, fs::describeErrno(folder.error)));
			return result;
		}
		struct timespec now;
		::clock_gettime(CLOCK_REALTIME, &now);
		result.stamp = {true, folder.mtimeNs, folder.ctimeNs, folder.size,
				std::int64_t(now.tv_sec) * 1000000000 + now.tv_nsec};
		const TreeStamp &last = request.last;
		bool same = last.valid && last.mtimeNs == folder.mtimeNs && last.ctimeNs == folder.ctimeNs &&
			    last.size == folder.size;
		bool trusted = same && std::max(last.mtimeNs, last.ctimeNs) + kRacyNs < last.listedAtNs;
		if (request.checkFirst && trusted) {
			result.unchanged = true;
			result.stamp = last; // still the listing it stands for
		}
	}
	if (request.list && !result.unchanged) {
		// The ids listed, with the inode each is listed as, sorted: 40 bytes each,
		// where names and a hash map of them made a load's worker hold megabytes.
		std::vector<std::pair<Id, std::uint64_t>> present;
		auto listed = fs::forEachEntry(fd, [&](const fs::DirEntryView &e) {
			if (auto id = Id::parse(e.name))
				present.emplace_back(*id, e.ino);
		});
		if (!listed) {
			result.treeError = makeError(listed.error().code, fmt::format("{}: {}", name, listed.error().message));
			return result;
		}
		result.listed = true;
		progressed(request);
		std::sort(present.begin(), present.end());
		std::vector<char> wasKnown(present.size()); // listed and known: not new
		static const std::vector<ReadRequest::Known> kNone;
		std::vector<const ReadRequest::Known *> toProbe;
		for (const auto &k : request.known ? *request.known : kNone) {
			if (cancelled(cancel))
				break;
			auto listedAs = std::lower_bound(present.begin(), present.end(), k.id,
							 [](const auto &entry, const Id &id) { return entry.first < id; });
			if (listedAs == present.end() || listedAs->first != k.id) {
				// Missing from the listing: gone only if a look by name agrees.
				std::string id = k.id.hex();
				FileId look = statId(fd, id, request.forceFresh ? AT_STATX_FORCE_SYNC : 0);
				if (look.error)
					result.items.push_back({id, troubleReading(request.tree, look.error,
										   fmt::format("{}/{}: {}", name, id,
											       fs::describeErrno(look.error)))});
				else if (look.ino == 0)
					result.gone.push_back(std::move(id));
				else
					result.listingStale = true;
				continue;
			}
			// A settled item is looked at when settled ones are (probeSettled), or when
			// the listing names another inode under its id: a folder removed and made
			// anew between two listings (a layer removed and pulled again) is a new
			// item, with a new link. (One that reuses the inode number is found only
			// by probeSettled.)
			std::uint64_t ino = listedAs->second;
			wasKnown[static_cast<std::size_t>(listedAs - present.begin())] = 1;
			bool moved = ino != 0 && ino != k.identity.folder.ino;
			if (request.probeSettled || !k.settled || moved)
				toProbe.push_back(&k);
		}
		std::vector<char> changed(toProbe.size());
		forEachParallel(request, toProbe.size(), [&](std::size_t i) {
			changed[i] = !cancelled(cancel) && !unchanged(fd, *toProbe[i], request.forceFresh);
		});
		for (std::size_t i = 0; i < toProbe.size(); ++i)
			if (changed[i])
				toRead.push_back(toProbe[i]->id.hex());
		// What is left is new: read it, with no probe first.
		for (std::size_t i = 0; i < present.size(); ++i)
			if (!wasKnown[i])
				toRead.push_back(present[i].first.hex());
	}

	std::sort(toRead.begin(), toRead.end());
	toRead.erase(std::unique(toRead.begin(), toRead.end()), toRead.end());
	readAll(request, fd, std::move(toRead), cancel, result.items);
	return result;
}

// A layer is two folders (overlay/RO/<id>, overlay-layers/RO/<id>). One read again
// alone, its other half changed too (the layer removed and made anew between two
// ticks) would be seen a tick later: a second removal and addition the writer never
// made. So when a read owns both trees, what it read of one half it reads of the
// other, and both are adopted together; a half that could not be read (trouble)
// holds the other back too, so that no layer is ever made of one old half and one
// new. Runs on any thread (the engine's worker).
void readOtherHalves(int rootFd, const std::vector<ReadRequest> &requests, std::vector<ReadResult> &results,
		     const CancelFlag &cancel)
{
	auto find = [&](Tree tree) -> ReadResult * {
		for (auto &r : results)
			if (r.tree == tree)
				return &r;
		return nullptr;
	};
	ReadResult *halves[2] = {find(Tree::Overlay), find(Tree::Layers)};
	if (!halves[0] || !halves[1])
		return;
	// A half whose whole tree could not be read holds back every item read of the
	// other half (a layer made anew would otherwise be taken as its new overlay on its
	// old layer.json, and made anew once more when the tree is back).
	for (int h = 0; h < 2; ++h) {
		const Error &failed = halves[h]->treeError;
		if (!failed.code)
			continue;
		for (auto &item : halves[1 - h]->items)
			if (ItemState &s = stateOf(item.files); !s.ioError)
				s.ioError = failed.code, s.problem = "other half: " + failed.message;
	}
	if (halves[0]->treeError.code || halves[1]->treeError.code)
		return;
	std::vector<std::string> missing[2];
	for (int h = 0; h < 2; ++h) {
		std::unordered_set<std::string> other;
		for (const auto &item : halves[1 - h]->items)
			other.insert(item.id);
		for (const auto &item : halves[h]->items)
			if (!stateOf(item.files).ioError && !other.count(item.id))
				missing[1 - h].push_back(item.id);
	}
	for (int h = 0; h < 2; ++h) {
		if (missing[h].empty())
			continue;
		const ReadRequest *owner = nullptr;
		for (const auto &r : requests)
			if (r.tree == halves[h]->tree)
				owner = &r;
		ReadRequest more;
		more.tree = owner->tree;
		more.read = std::move(missing[h]);
		more.forceFresh = owner->forceFresh;
		more.expectFsMagic = owner->expectFsMagic;
		more.parallel = owner->parallel;
		more.progress = owner->progress;
		more.calls = owner->calls;
		ReadResult read = readTree(rootFd, more, cancel);
		auto &into = *halves[h];
		into.gone.insert(into.gone.end(), read.gone.begin(), read.gone.end());
		for (auto &item : read.items)
			into.items.push_back(std::move(item));
	}
	std::unordered_map<std::string, std::pair<int, std::string>> troubled; // id -> errno, why
	for (auto *half : halves)
		for (const auto &item : half->items)
			if (const ItemState &s = stateOf(item.files); s.ioError)
				troubled.try_emplace(item.id, s.ioError, s.problem);
	for (auto *half : halves)
		for (auto &item : half->items)
			if (auto t = troubled.find(item.id); t != troubled.end()) {
				ItemState &s = stateOf(item.files);
				if (!s.ioError)
					s.ioError = t->second.first, s.problem = "other half: " + t->second.second;
			}
}

} // namespace lw

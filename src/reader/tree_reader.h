// Reading the shared trees, away from the validator: a ReadRequest is a plain copy of
// what the validator knows of one tree, made on the loop thread; readTree() runs on
// any thread (a worker, in the engine) and touches nothing but the files; the
// ReadResult goes back to the validator's adopt() on the loop thread.
//
// Errors are not absence (DESIGN.md section 4): an item is "gone" only when a look at
// it by name says ENOENT or ENOTDIR. An id missing from a listing is looked at by
// name first (forced fresh on a network filesystem, whose listings are cached); any
// other errno is trouble, which keeps the last known state.
#pragma once

#include "item_files.h"
#include "validator.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace lw {

// A tree folder's attributes as a listing saw them (DESIGN.md section 4: a remote tree
// is listed again only when they changed, or when they are too young to trust).
struct TreeStamp {
	bool valid = false;
	std::int64_t mtimeNs = 0, ctimeNs = 0, size = 0;
	std::int64_t listedAtNs = 0; // wall clock when the listing was taken
	bool operator==(const TreeStamp &) const = default;
};

// A folder changed within this long before its listing may change again within the
// same timestamp tick unseen (coarse timestamps, NFS servers): list it again.
inline constexpr std::int64_t kRacyNs = 2'000'000'000;

struct ReadRequest {
	Tree tree = Tree::Overlay;
	// List the tree: ids not in `known` are read, known ones are probed and read if
	// their identity changed, known ones missing from the listing are proved gone.
	bool list = false;
	// Looks that prove absence ask the server (AT_STATX_FORCE_SYNC): remote trees.
	bool forceFresh = false;
	// The filesystem (statfs f_type) the tree must still be on; 0: any. A tree found
	// on another (a share unmounted, leaving its bare mountpoint) is an error.
	long expectFsMagic = 0;
	// With list: first look at the tree folder (forced fresh) and list it only when it
	// changed since `last`, or `last` is too young to trust (the racy-timestamp rule).
	bool checkFirst = false;
	TreeStamp last;
	// With list: probe known items whose own files are settled too. Off for a remote
	// tree's tick whose listing did not change, and for its images and layers always:
	// RO data is never edited in place, ready images are verified in slices, and a
	// layer made anew under the same id has the same metadata. On for a remote
	// overlay tree that changed: an overlay made anew has a new link.
	bool probeSettled = true;
	// Items read at once, at most (a network share answers many requests in parallel).
	unsigned parallel = 4;
	// Set to the steady clock's milliseconds whenever the read gets somewhere (a
	// listing, an item): a long read that moves is slow, not stalled.
	std::shared_ptr<std::atomic<std::int64_t>> progress;
	// When set, counts the calls this read makes on the filesystem (sys::ScopedCallTally),
	// on every thread it uses.
	std::shared_ptr<std::atomic<std::uint64_t>> calls;

	struct Known {
		Id id; // 32 bytes: a remote tree's ticks keep one for every item

		ProbeNames probeNames;
		Identity identity;
		bool settled = false; // its own files are usable: nothing left to arrive
	};
	// With list: every item the validator holds (shared: idle ticks copy nothing).
	std::shared_ptr<const std::vector<Known>> known;
	std::vector<std::string> read;   // read these whatever their identity
	std::vector<Known> recheck;      // read these only if their identity changed
	// Images pending on their manifest alone, as last read (ImageFiles::restChecked):
	// whichever of them is read, only its manifest is read while the rest holds.
	std::shared_ptr<const std::unordered_map<Id, ImageFiles, IdHash>> partlyRead;
};

struct ItemRead {
	std::string id;
	ItemFiles files; // ioError set: trouble, the read says nothing
};

struct ReadResult {
	Tree tree = Tree::Overlay;
	// The tree itself could not be opened, checked or listed: nothing in it is known
	// better than before. Code 0: fine.
	Error treeError{0, {}};
	long fsMagic = 0;             // what the tree's filesystem is (statfs f_type)
	TreeStamp stamp;              // the tree folder as looked at before the listing
	bool unchanged = false;       // checkFirst: the tree had not changed, nothing listed
	bool listed = false;          // a listing was taken
	bool listingStale = false;    // an id missing from the listing was still there
	std::vector<std::string> gone; // proved absent
	std::vector<ItemRead> items;  // read: adopted unless ioError
};

// Set by the engine to abandon a read (stop during a slow load).
using CancelFlag = std::shared_ptr<std::atomic<bool>>;

ReadResult readTree(int rootFd, const ReadRequest &request, const CancelFlag &cancel = nullptr);

// With results of both layer trees (in order of requests, which planned them): every
// id read of one half is read of the other too, and a half in trouble marks the other
// half's read trouble as well ("other half: ..."), so that a layer is adopted whole.
void readOtherHalves(int rootFd, const std::vector<ReadRequest> &requests, std::vector<ReadResult> &results,
		     const CancelFlag &cancel = nullptr);

// One item of a tree, read through item_files. partlyRead: an image as last read
// (readImageFiles).
ItemFiles readItem(Tree tree, int treeFd, const std::string &id, int folderFlags = 0,
		   const ImageFiles *partlyRead = nullptr);

// An item that could not be read for err: its state stands, message says where.
ItemFiles troubleReading(Tree tree, int err, std::string message);

} // namespace lw

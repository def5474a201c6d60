// The inotify backend: the library's own inotify fd, watches on the three shared
// trees and on the item folders that need content events, and the translation of
// kernel records into "this id in this tree may have changed". It never touches
// the store; the engine decides what to do. Loop-bound: one thread.
#pragma once

#include "event_source.h"
#include "id.h"
#include "unique_fd.h"
#include "validator.h"

#include <layerwatch/result.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <optional>
#include <unordered_map>

namespace lw {

// One inotify record, bound-checked out of a read buffer.
struct InotifyRecord {
	int wd;
	std::uint32_t mask;
	std::uint32_t cookie;
	std::string_view name; // without its NUL padding; empty for the watched folder itself
};

// Splits a buffer read from an inotify fd into records. Returns false (and stops)
// at a record whose length runs past the buffer: a short or corrupt read.
bool parseInotifyRecords(const char *buffer, std::size_t length,
			 const std::function<void(const InotifyRecord &)> &onRecord);

using InotifyOutput = SourceOutput;

// One watch per tree folder and per item folder that needs content events.
class InotifySource final : public KernelSource {
public:
	// Opens the fd (IN_NONBLOCK | IN_CLOEXEC). root is the storage root's path.
	static Result<std::unique_ptr<InotifySource>> open(std::string root, InotifyOutput output);

	const char *name() const override { return "inotify"; }
	EventSource eventSource() const override { return EventSource::Inotify; }
	int fd() const override { return fd_.get(); }

	Result<void> watchTree(Tree tree) override;
	bool treeWatched(Tree tree) const override { return treeWds_[static_cast<int>(tree)] >= 0; }
	Result<void> watchItem(Tree tree, const std::string &id) override;
	void unwatchItem(Tree tree, const std::string &id) override;
	bool itemWatched(Tree tree, const std::string &id) const override;
	std::size_t itemWatchCount(Tree tree) const override { return itemCounts_[static_cast<int>(tree)]; }

	long drain(std::size_t maxRecords) override;

	std::size_t watchCount() const override { return byWd_.size(); }
	std::size_t markCount() const override { return 0; }

private:
	InotifySource(std::string root, InotifyOutput output, int fd);
	void dispatch(const InotifyRecord &record);
	std::string pathOf(Tree tree, const std::string &id) const;

	struct Target {
		Tree tree;
		std::optional<Id> id; // none: the tree folder itself
	};

	std::string root_;
	InotifyOutput output_;
	UniqueFd fd_;
	int treeWds_[3] = {-1, -1, -1};
	std::unordered_map<int, Target> byWd_;
	std::unordered_map<Id, int, IdHash> itemWds_[3]; // per tree: id -> wd
	std::size_t itemCounts_[3] = {};
};

} // namespace lw

// IdSet: a set of ids held as one vector, sorted when it is read. What one step of
// the validator touches is a set of ids: a load's tens of thousands of them, made and
// let go between the nodes that stay, each a node and a string of its own, were holes
// left in the heap; here they are one block a set.
#pragma once

#include "id.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace lw {

class IdSet {
public:
	using const_iterator = std::vector<Id>::const_iterator;

	// Adds are appended; the set is sorted (and duplicates dropped) when next read.
	void insert(const Id &id) { ids_.push_back(id); }
	template <class It>
	void insert(It first, It last)
	{
		ids_.insert(ids_.end(), first, last);
	}
	void insert(const IdSet &other) { insert(other.begin(), other.end()); }

	// Reading sorts what was added since the last read: O(n) then, so a loop that
	// alternates adds and reads on a large set is the caller's to avoid.
	bool contains(const Id &id) const
	{
		settle();
		return std::binary_search(ids_.begin(), ids_.end(), id);
	}
	std::size_t size() const
	{
		settle();
		return ids_.size();
	}
	bool empty() const { return ids_.empty(); }
	const_iterator begin() const
	{
		settle();
		return ids_.begin();
	}
	const_iterator end() const
	{
		settle();
		return ids_.end();
	}
	void clear() { ids_.clear(), sorted_ = 0; }

private:
	// (Const: a read sorts; what the set holds does not change.)
	void settle() const
	{
		if (sorted_ == ids_.size())
			return;
		auto middle = ids_.begin() + static_cast<std::ptrdiff_t>(sorted_);
		std::sort(middle, ids_.end());
		std::inplace_merge(ids_.begin(), middle, ids_.end());
		ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
		sorted_ = ids_.size();
	}

	mutable std::vector<Id> ids_;
	mutable std::size_t sorted_ = 0; // ids_[0, sorted_) is sorted, without duplicates
};

} // namespace lw

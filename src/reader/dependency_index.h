// "Who depends on whom": parent -> child layers, layer -> images on it, link ->
// layers naming it. Most keys have one dependant, a few (a base layer) thousands:
// each key keeps a sorted vector of 32-byte ids, 32 bytes an edge where a set of
// strings cost some 300, and a lookup by binary search.
#pragma once

#include "id.h"
#include "short_link.h"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace lw {

template <class Key, class Hash>
class DependencyIndexOf {
public:
	using Dependants = std::vector<Id>; // sorted, no repeats

	void add(const Key &from, const Id &to)
	{
		auto &ids = edges_[from];
		auto at = std::lower_bound(ids.begin(), ids.end(), to);
		if (at == ids.end() || *at != to)
			ids.insert(at, to);
	}
	// Drops one edge, and the key once it has none left.
	void remove(const Key &from, const Id &to)
	{
		auto it = edges_.find(from);
		if (it == edges_.end())
			return;
		auto &ids = it->second;
		auto at = std::lower_bound(ids.begin(), ids.end(), to);
		if (at != ids.end() && *at == to)
			ids.erase(at);
		if (ids.empty())
			edges_.erase(it);
		else if (ids.capacity() > 2 * ids.size())
			ids.shrink_to_fit(); // a base layer's thousands of children, gone
	}
	const Dependants *find(const Key &from) const
	{
		auto it = edges_.find(from);
		return it == edges_.end() ? nullptr : &it->second;
	}

private:
	std::unordered_map<Key, Dependants, Hash> edges_;
};

using DependencyIndex = DependencyIndexOf<Id, IdHash>;
// A short link's claimants, by the link.
using ClaimIndex = DependencyIndexOf<ShortLink, ShortLinkHash>;

} // namespace lw

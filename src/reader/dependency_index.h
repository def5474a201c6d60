// "Who depends on whom": parent -> child layers, layer -> images on it, link ->
// layers naming it. Most keys have one dependant, a few (a base layer) thousands:
// each key keeps its one id in place, or a sorted vector of them (32 bytes an edge,
// where a set of strings cost some 300), searched by binary search.
#pragma once

#include "id.h"
#include "ids_in_place.h"
#include "short_link.h"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace lw {

// A key's dependants: sorted, no repeats, never empty.
class Dependants : public IdsInPlace {
public:
	explicit Dependants(const Id &first) : IdsInPlace(first) {}

	void insert(const Id &id)
	{
		if (size() == 1 && *begin() == id)
			return;
		auto &ids = edit();
		auto at = std::lower_bound(ids.begin(), ids.end(), id);
		if (at == ids.end() || *at != id)
			ids.insert(at, id);
	}
	// False when none would be left (the caller drops the key).
	bool erase(const Id &id)
	{
		if (size() == 1)
			return *begin() != id;
		auto &ids = edit();
		auto at = std::lower_bound(ids.begin(), ids.end(), id);
		if (at != ids.end() && *at == id)
			ids.erase(at);
		settle();
		return true;
	}
};

template <class Key, class Hash>
class DependencyIndexOf {
public:
	void add(const Key &from, const Id &to)
	{
		if (auto it = edges_.find(from); it != edges_.end())
			it->second.insert(to);
		else
			edges_.emplace(from, Dependants(to));
	}
	// Drops one edge, and the key once it has none left.
	void remove(const Key &from, const Id &to)
	{
		auto it = edges_.find(from);
		if (it != edges_.end() && !it->second.erase(to))
			edges_.erase(it);
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

// "Who depends on whom": parent -> child layers, layer -> images on it, link ->
// layers naming it. Most keys have one dependant, a few (a base layer) thousands:
// each key keeps its one id in place, or a sorted vector of them (32 bytes an edge,
// where a set of strings cost some 300), searched by binary search.
#pragma once

#include "id.h"
#include "short_link.h"

#include <algorithm>
#include <functional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace lw {

// A key's dependants: sorted, no repeats, never empty. Most keys have one, held in
// place; a vector only for more.
class Dependants {
public:
	explicit Dependants(const Id &first) : ids_(first) {}

	const Id *begin() const
	{
		const Id *one = std::get_if<Id>(&ids_);
		return one ? one : std::get<Many>(ids_).data();
	}
	const Id *end() const { return begin() + size(); }
	std::size_t size() const { return std::holds_alternative<Id>(ids_) ? 1 : std::get<Many>(ids_).size(); }

	void insert(const Id &id)
	{
		if (const Id *one = std::get_if<Id>(&ids_)) {
			if (*one != id)
				ids_ = *one < id ? Many{*one, id} : Many{id, *one};
			return;
		}
		auto &ids = std::get<Many>(ids_);
		auto at = std::lower_bound(ids.begin(), ids.end(), id);
		if (at == ids.end() || *at != id)
			ids.insert(at, id);
	}
	// False when none would be left (the caller drops the key).
	bool erase(const Id &id)
	{
		if (const Id *one = std::get_if<Id>(&ids_))
			return *one != id;
		auto &ids = std::get<Many>(ids_);
		auto at = std::lower_bound(ids.begin(), ids.end(), id);
		if (at != ids.end() && *at == id)
			ids.erase(at);
		if (ids.size() == 1)
			ids_ = Id(ids.front());
		else if (ids.capacity() > 2 * ids.size())
			ids.shrink_to_fit(); // a base layer's thousands of children, gone
		return true;
	}

private:
	using Many = std::vector<Id>;
	std::variant<Id, Many> ids_;
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

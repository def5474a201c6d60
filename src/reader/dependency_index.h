// "Who depends on whom": parent -> child layers, layer -> images on it.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace lw {

using DependencyIndex = std::unordered_map<std::string, std::unordered_set<std::string>>;

// Drops one edge, and the key once it has none left.
inline void unindex(DependencyIndex &index, const std::string &from, const std::string &to)
{
	if (from.empty())
		return;
	auto it = index.find(from);
	if (it == index.end())
		return;
	it->second.erase(to);
	if (it->second.empty())
		index.erase(it);
}

} // namespace lw

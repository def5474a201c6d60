// The ids an index files under one key: most keys have one, held in place; a vector
// only for more (an empty one: none). The order they keep is the holder's own
// (Dependants: sorted).
#pragma once

#include "id.h"

#include <variant>
#include <vector>

namespace lw {

class IdsInPlace {
public:
	const Id *begin() const
	{
		const Id *one = std::get_if<Id>(&ids_);
		return one ? one : std::get<std::vector<Id>>(ids_).data();
	}
	const Id *end() const { return begin() + size(); }
	std::size_t size() const
	{
		return std::holds_alternative<Id>(ids_) ? 1 : std::get<std::vector<Id>>(ids_).size();
	}

protected:
	IdsInPlace() = default;
	explicit IdsInPlace(const Id &one) : ids_(one) {}

	void setOne(const Id &id) { ids_ = id; }
	void clear() { ids_ = std::vector<Id>(); }
	// The ids as a vector to edit (one in place becomes a vector of one); settle() after.
	std::vector<Id> &edit()
	{
		if (const Id *one = std::get_if<Id>(&ids_))
			ids_ = std::vector<Id>{*one};
		return std::get<std::vector<Id>>(ids_);
	}
	// Back in place when one is left; a vector of under half its room shrunk (a base
	// layer's thousands of children, gone).
	void settle()
	{
		auto *ids = std::get_if<std::vector<Id>>(&ids_);
		if (ids && ids->size() == 1)
			ids_ = Id(ids->front());
		else if (ids && ids->capacity() > 2 * ids->size())
			ids->shrink_to_fit();
	}

private:
	std::variant<std::vector<Id>, Id> ids_;
};

} // namespace lw

// ThinList: a short list in one block, with a vector's meaning.
#include "test_support.h"
#include "thin_list.h"

#include <vector>

using namespace lw;

namespace {

struct Pair {
	long a = 7, b = 0;
	bool operator==(const Pair &) const = default;
};

std::vector<Pair> asVector(const ThinList<Pair> &list)
{
	return {list.begin(), list.end()};
}

} // namespace

TEST_CASE("a thin list holds what a vector would, in 8 bytes")
{
	static_assert(sizeof(ThinList<Pair>) == sizeof(void *));
	ThinList<Pair> list;
	CHECK(list.empty());
	CHECK(list.begin() == list.end());
	list.push_back({1, 2});
	list.push_back({3, 4});
	CHECK(asVector(list) == std::vector<Pair>{{1, 2}, {3, 4}});
	CHECK(list.back() == Pair{3, 4});

	ThinList<Pair> copy = list;
	copy[0].a = 9;
	CHECK(list[0].a == 1); // a copy of its own
	CHECK_FALSE(copy == list);
	copy[0].a = 1;
	CHECK(copy == list);

	list.resize(4); // grown: value-made ones after
	CHECK(asVector(list) == std::vector<Pair>{{1, 2}, {3, 4}, {7, 0}, {7, 0}});
	list.resize(1);
	CHECK(asVector(list) == std::vector<Pair>{{1, 2}});
	list.resize(0);
	CHECK(list.empty());

	ThinList<Pair> moved = std::move(copy);
	CHECK(moved.size() == 2);
	CHECK(copy.empty()); // NOLINT(bugprone-use-after-move): moved-from is empty
	moved = {};
	CHECK(moved.empty());
	CHECK(moved == ThinList<Pair>());
}

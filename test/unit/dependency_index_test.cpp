// The dependency index: one dependant held in place, more in a sorted vector, and a
// key dropped with its last edge.
#include "test_support.h"
#include "dependency_index.h"
#include "id_set.h"

using namespace lw;

namespace {

Id idOf(int n)
{
	std::string s = std::to_string(n);
	return *Id::parse(std::string(64 - s.size(), '0') + s);
}

std::vector<Id> listOf(const Dependants *d)
{
	return d ? std::vector<Id>(d->begin(), d->end()) : std::vector<Id>();
}

} // namespace

TEST_CASE("edges are kept sorted and unique, one in place or many, and a key goes with its last")
{
	DependencyIndex index;
	CHECK_FALSE(index.find(idOf(1)));
	index.add(idOf(1), idOf(30));
	index.add(idOf(1), idOf(30)); // again: no repeat
	CHECK(listOf(index.find(idOf(1))) == std::vector<Id>{idOf(30)});
	index.add(idOf(1), idOf(10));
	index.add(idOf(1), idOf(20));
	CHECK(listOf(index.find(idOf(1))) == std::vector<Id>{idOf(10), idOf(20), idOf(30)});
	index.remove(idOf(1), idOf(99)); // not there: nothing changes
	index.remove(idOf(2), idOf(10)); // no such key
	CHECK(index.find(idOf(1))->size() == 3);
	index.remove(idOf(1), idOf(20));
	index.remove(idOf(1), idOf(10));
	CHECK(listOf(index.find(idOf(1))) == std::vector<Id>{idOf(30)});
	index.remove(idOf(1), idOf(10)); // one left, another asked: it stays
	CHECK(index.find(idOf(1))->size() == 1);
	index.remove(idOf(1), idOf(30));
	CHECK_FALSE(index.find(idOf(1)));

	// A key with thousands (a base layer's children), then all gone but one.
	for (int i = 5000; i > 0; --i)
		index.add(idOf(7), idOf(i));
	auto all = listOf(index.find(idOf(7)));
	CHECK(all.size() == 5000);
	CHECK(std::is_sorted(all.begin(), all.end()));
	for (int i = 1; i < 5000; ++i)
		index.remove(idOf(7), idOf(i));
	CHECK(listOf(index.find(idOf(7))) == std::vector<Id>{idOf(5000)});
}

TEST_CASE("claims are indexed by short link")
{
	ClaimIndex claims;
	auto link = *ShortLink::parse(std::string(kLinkLength, 'a'));
	claims.add(link, idOf(2));
	claims.add(link, idOf(1));
	CHECK(listOf(claims.find(link)) == std::vector<Id>{idOf(1), idOf(2)});
	CHECK_FALSE(claims.find(*ShortLink::parse(std::string(kLinkLength, 'b'))));
}

TEST_CASE("an id set reads back sorted and without repeats, however its ids were added")
{
	IdSet set;
	CHECK(set.empty());
	CHECK_FALSE(set.contains(idOf(1)));
	for (int n : {5, 3, 9, 3, 1})
		set.insert(idOf(n));
	CHECK(set.size() == 4);
	CHECK(std::vector<Id>(set.begin(), set.end()) == std::vector<Id>{idOf(1), idOf(3), idOf(5), idOf(9)});
	// Added after a read: merged in among what was sorted.
	for (int n : {4, 9, 0})
		set.insert(idOf(n));
	CHECK(set.contains(idOf(4)));
	CHECK(set.contains(idOf(0)));
	CHECK_FALSE(set.contains(idOf(2)));
	IdSet other;
	other.insert(idOf(2));
	other.insert(idOf(5));
	set.insert(other);
	CHECK(std::vector<Id>(set.begin(), set.end()) ==
	      std::vector<Id>{idOf(0), idOf(1), idOf(2), idOf(3), idOf(4), idOf(5), idOf(9)});
	set.clear();
	CHECK(set.empty());
	CHECK(set.size() == 0);
}

// A short list of plain values in one block with its count: 8 bytes where a vector
// costs 24. For what each of tens of thousands of items holds a few of or none (the
// looks a probe took besides the folder's: none for a settled overlay or layer), so
// each one more is a new block of the exact size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace lw {

template <class T>
class ThinList {
	static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= alignof(std::max_align_t));

public:
	ThinList() = default;
	ThinList(const ThinList &other) { assign(other.begin(), other.size()); }
	ThinList(ThinList &&other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
	ThinList &operator=(ThinList other) noexcept
	{
		std::swap(block_, other.block_);
		return *this;
	}
	~ThinList() { ::operator delete(block_); }

	std::size_t size() const { return block_ ? countOf(block_) : 0; }
	bool empty() const { return size() == 0; }
	const T *begin() const { return block_ ? itemsOf(block_) : nullptr; }
	const T *end() const { return begin() + size(); }
	const T &operator[](std::size_t i) const { return begin()[i]; }
	T &operator[](std::size_t i) { return itemsOf(block_)[i]; }
	const T &back() const { return end()[-1]; }

	void push_back(const T &item)
	{
		ThinList more;
		more.allocate(size() + 1);
		copyInto(more, size());
		std::memcpy(itemsOf(more.block_) + size(), &item, sizeof(T));
		*this = std::move(more);
	}
	// The first n (default-made ones after the end, if it has fewer).
	void resize(std::size_t n)
	{
		ThinList exact;
		exact.allocate(n);
		std::size_t kept = std::min(n, size());
		copyInto(exact, kept);
		if (n > kept)
			std::uninitialized_value_construct(itemsOf(exact.block_) + kept, itemsOf(exact.block_) + n);
		*this = std::move(exact);
	}

	bool operator==(const ThinList &other) const
	{
		return std::equal(begin(), end(), other.begin(), other.end());
	}

private:
	// A block: its count, then the items, at the first offset aligned for them.
	static constexpr std::size_t kHeader = std::max(sizeof(std::size_t), alignof(T));
	static std::size_t countOf(const void *block) { return *static_cast<const std::size_t *>(block); }
	static T *itemsOf(void *block) { return reinterpret_cast<T *>(static_cast<char *>(block) + kHeader); }
	static const T *itemsOf(const void *block)
	{
		return reinterpret_cast<const T *>(static_cast<const char *>(block) + kHeader);
	}
	// n items' room, their count set (none: no block).
	void allocate(std::size_t n)
	{
		::operator delete(block_);
		block_ = n ? ::operator new(kHeader + n * sizeof(T)) : nullptr;
		if (block_)
			*static_cast<std::size_t *>(block_) = n;
	}
	void assign(const T *items, std::size_t n)
	{
		allocate(n);
		if (n)
			std::memcpy(itemsOf(block_), items, n * sizeof(T));
	}
	// This list's first n into other's room (no block, nothing to copy, when n is 0).
	void copyInto(ThinList &other, std::size_t n) const
	{
		if (n)
			std::memcpy(itemsOf(other.block_), begin(), n * sizeof(T));
	}

	void *block_ = nullptr;
};

} // namespace lw

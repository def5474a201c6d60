// How many hold a shared thing that is never changed, counted in the thing itself: 4
// bytes in it and a plain pointer in each holder, where a shared_ptr costs a control
// block and 16 bytes a holder. Holders may be on any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace lw {

class Holders {
public:
	Holders() = default; // the first holder
	void hold() { count_.fetch_add(1, std::memory_order_relaxed); }
	// True for the last holder, which then frees the thing: after every other holder's
	// reads (acq_rel).
	bool release() { return count_.fetch_sub(1, std::memory_order_acq_rel) == 1; }

private:
	std::atomic<std::uint32_t> count_{1};
};

} // namespace lw

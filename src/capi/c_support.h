// What every C entry point shares: no exception crosses into C.
#pragma once

#include <cerrno>
#include <new>

namespace lw::capi {

// Runs body, turning any exception into -ENOMEM (the only kind we throw is bad_alloc).
template <class F>
int guarded(F &&body) noexcept
{
	try {
		return body();
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EIO;
	}
}

} // namespace lw::capi

// What every C entry point shares: no exception crosses into C, and what went wrong
// is kept for lw_last_error() on the calling thread.
#pragma once

#include <layerwatch/result.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

namespace lw::capi {

// The calling thread's last error message ("" after a success).
std::string &lastError();

// Keeps error's message for lw_last_error(); returns -code, for a C caller.
inline int failed(const Error &error)
{
	lastError() = error.message;
	return -error.code;
}

// Runs body, turning any exception into -ENOMEM (the only kind we throw is bad_alloc).
// A failure that body did not describe (failed()) is described by its errno.
template <class F>
int guarded(F &&body) noexcept
{
	int result;
	try {
		lastError().clear();
		result = body();
	} catch (const std::bad_alloc &) {
		result = -ENOMEM;
	} catch (...) {
		result = -EIO;
	}
	try {
		if (result < 0 && lastError().empty())
			lastError() = std::strerror(-result);
	} catch (...) {
	}
	return result;
}

} // namespace lw::capi

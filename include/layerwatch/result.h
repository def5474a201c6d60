// Result<T>: a value or an Error, so that no exception crosses the public API.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace lw {

// code is a positive errno value (EINVAL for bad input, ENOENT, EEXIST, ...);
// message is one line that names the file and the field or path concerned.
struct Error {
	int code = EINVAL;
	std::string message;
};

template <class T>
class [[nodiscard]] Result {
public:
	Result(T value) : v_(std::move(value)) {}
	Result(Error error) : v_(std::move(error)) {}

	bool ok() const { return v_.index() == 0; }
	explicit operator bool() const { return ok(); }

	T &value() & { return std::get<0>(v_); }
	const T &value() const & { return std::get<0>(v_); }
	T &&value() && { return std::get<0>(std::move(v_)); }
	T *operator->() { return &value(); }
	const T *operator->() const { return &value(); }
	T &operator*() { return value(); }
	const T &operator*() const { return value(); }

	const Error &error() const { return std::get<1>(v_); }

private:
	std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
	Result() = default;
	Result(Error error) : error_(std::move(error)), failed_(true) {}

	bool ok() const { return !failed_; }
	explicit operator bool() const { return ok(); }
	const Error &error() const { return error_; }

private:
	Error error_;
	bool failed_ = false;
};

inline Error makeError(int code, std::string message)
{
	return Error{code, std::move(message)};
}

} // namespace lw

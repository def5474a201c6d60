// Bounded, iterative JSON parsing and a typed field reader whose first error names
// the file and the field. Private to the library.
#pragma once

#include <layerwatch/result.h>

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

// Parses text (at most kMaxJsonBytes) whose root must be an object with no
// duplicate keys. Iterative: no nesting depth can exhaust the stack.
Result<rapidjson::Document> parseJsonObject(std::string_view file, std::string_view text);

// Reads typed fields of one object. Missing optional fields keep their defaults;
// after the first error every later call is a no-op and error() says what it was.
class FieldReader {
public:
	// prefix names a nested object in messages: "config." gives "config.digest".
	FieldReader(std::string_view file, const rapidjson::Value &object, std::string prefix = {})
		: file_(file), prefix_(std::move(prefix)), object_(object) {}

	void string(const char *name, std::string &out, bool required = false);
	void strings(const char *name, std::vector<std::string> &out);
	void boolean(const char *name, bool &out);
	void int64(const char *name, std::optional<std::int64_t> &out);
	void uint32(const char *name, std::optional<std::uint32_t> &out);
	void uint64(const char *name, std::optional<std::uint64_t> &out);
	void int64Map(const char *name, std::map<std::string, std::int64_t> &out);
	void stringMap(const char *name, std::map<std::string, std::string> &out);
	// Object and integer fields for nested readers.
	const rapidjson::Value *object(const char *name, bool required = false);
	const rapidjson::Value *array(const char *name, bool required = false);
	std::optional<std::int64_t> integer(const char *name, bool required = false);

	bool has(const char *name) const { return object_.HasMember(name); }
	void fail(std::string field, std::string problem);
	bool failed() const { return error_.has_value(); }
	const Error &error() const { return *error_; }
	std::string_view file() const { return file_; }

private:
	const rapidjson::Value *find(const char *name, bool required);

	std::string_view file_;
	std::string prefix_;
	const rapidjson::Value &object_;
	std::optional<Error> error_;
};

} // namespace lw

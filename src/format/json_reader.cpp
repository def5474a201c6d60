// Bounded, iterative JSON parsing and a typed field reader.
#include "json_reader.h"

#include <layerwatch/model.h>

#include <rapidjson/error/en.h>

#include <fmt/format.h>

#include <algorithm>

namespace lw {

namespace {

constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
				 rapidjson::kParseValidateEncodingFlag;

bool hasDuplicateKeys(const rapidjson::Value &object)
{
	std::vector<std::string_view> keys;
	keys.reserve(object.MemberCount());
	for (const auto &m : object.GetObject())
		keys.emplace_back(m.name.GetString(), m.name.GetStringLength());
	std::sort(keys.begin(), keys.end());
	return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

} // namespace

Result<rapidjson::Document> parseJsonObject(std::string_view file, std::string_view text)
{
	if (text.size() > kMaxJsonBytes)
		return makeError(EFBIG, fmt::format("{}: larger than {} bytes", file, kMaxJsonBytes));
	// RapidJSON takes a NUL for the end of input, so "{...}\0junk" would pass.
	if (text.find('\0') != std::string_view::npos)
		return makeError(EINVAL, fmt::format("{}: invalid JSON: contains a NUL byte", file));
	rapidjson::Document doc;
	doc.Parse<kParseFlags>(text.data(), text.size());
	if (doc.HasParseError())
		return makeError(EINVAL, fmt::format("{}: invalid JSON at offset {}: {}", file,
						     doc.GetErrorOffset(),
						     rapidjson::GetParseError_En(doc.GetParseError())));
	if (!doc.IsObject())
		return makeError(EINVAL, fmt::format("{}: expected a JSON object", file));
	if (hasDuplicateKeys(doc))
		return makeError(EINVAL, fmt::format("{}: a field appears twice", file));
	return doc;
}

void FieldReader::fail(std::string field, std::string problem)
{
	if (!error_)
		error_ = makeError(EINVAL, fmt::format("{}: field \"{}{}\": {}", file_, prefix_, field, problem));
}

const rapidjson::Value *FieldReader::find(const char *name, bool required)
{
	if (error_)
		return nullptr;
	auto it = object_.FindMember(name);
	if (it == object_.MemberEnd() || it->value.IsNull()) {
		if (required)
			fail(name, "missing");
		return nullptr;
	}
	return &it->value;
}

void FieldReader::string(const char *name, std::string &out, bool required)
{
	const auto *v = find(name, required);
	if (!v)
		return;
	if (!v->IsString())
		return fail(name, "expected a string");
	out.assign(v->GetString(), v->GetStringLength());
}

void FieldReader::strings(const char *name, std::vector<std::string> &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsArray())
		return fail(name, "expected an array of strings");
	out.clear();
	for (const auto &item : v->GetArray()) {
		if (!item.IsString())
			return fail(fmt::format("{}[{}]", name, out.size()), "expected a string");
		out.emplace_back(item.GetString(), item.GetStringLength());
	}
}

void FieldReader::boolean(const char *name, bool &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsBool())
		return fail(name, "expected true or false");
	out = v->GetBool();
}

void FieldReader::int64(const char *name, std::optional<std::int64_t> &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsInt64())
		return fail(name, "expected a 64-bit integer");
	out = v->GetInt64();
}

void FieldReader::uint32(const char *name, std::optional<std::uint32_t> &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsUint())
		return fail(name, "expected an unsigned 32-bit integer");
	out = v->GetUint();
}

void FieldReader::uint64(const char *name, std::optional<std::uint64_t> &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsUint64())
		return fail(name, "expected an unsigned 64-bit integer");
	out = v->GetUint64();
}

void FieldReader::int64Map(const char *name, std::map<std::string, std::int64_t> &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsObject())
		return fail(name, "expected an object of integers");
	out.clear();
	for (const auto &m : v->GetObject()) {
		std::string key(m.name.GetString(), m.name.GetStringLength());
		if (!m.value.IsInt64())
			return fail(fmt::format("{}.{}", name, key), "expected a 64-bit integer");
		out[key] = m.value.GetInt64();
	}
}

void FieldReader::stringMap(const char *name, std::map<std::string, std::string> &out)
{
	const auto *v = find(name, false);
	if (!v)
		return;
	if (!v->IsObject())
		return fail(name, "expected an object of strings");
	out.clear();
	for (const auto &m : v->GetObject()) {
		std::string key(m.name.GetString(), m.name.GetStringLength());
		if (!m.value.IsString())
			return fail(fmt::format("{}.{}", name, key), "expected a string");
		out[key].assign(m.value.GetString(), m.value.GetStringLength());
	}
}

const rapidjson::Value *FieldReader::object(const char *name, bool required)
{
	const auto *v = find(name, required);
	if (v && !v->IsObject()) {
		fail(name, "expected an object");
		return nullptr;
	}
	return v;
}

const rapidjson::Value *FieldReader::array(const char *name, bool required)
{
	const auto *v = find(name, required);
	if (v && !v->IsArray()) {
		fail(name, "expected an array");
		return nullptr;
	}
	return v;
}

std::optional<std::int64_t> FieldReader::integer(const char *name, bool required)
{
	const auto *v = find(name, required);
	if (!v)
		return std::nullopt;
	if (!v->IsInt64()) {
		fail(name, "expected an integer");
		return std::nullopt;
	}
	return v->GetInt64();
}

} // namespace lw

// A small JSON writer for the program's output (one object per call).
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <vector>

namespace lwcli {

class JsonOut {
public:
	JsonOut() : writer_(buffer_) {}
	rapidjson::Writer<rapidjson::StringBuffer> &w() { return writer_; }
	void key(std::string_view k) { writer_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
	void string(std::string_view v) { writer_.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); }
	void field(std::string_view k, std::string_view v)
	{
		key(k);
		string(v);
	}
	void strings(std::string_view k, const std::vector<std::string> &values)
	{
		key(k);
		writer_.StartArray();
		for (const auto &v : values)
			string(v);
		writer_.EndArray();
	}
	std::string str() const { return std::string(buffer_.GetString(), buffer_.GetSize()); }

private:
	rapidjson::StringBuffer buffer_;
	rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

} // namespace lwcli

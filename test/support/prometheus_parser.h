// A strict parser of Prometheus' text exposition format (0.0.4), for the tests of
// `watch --metrics-file`: anything node_exporter's textfile collector could refuse is
// an error here, and every sample must follow its metric's # TYPE.
#pragma once

#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace lw::test {

struct PrometheusText {
	std::string error; // empty: it parsed
	std::map<std::string, std::string> types;          // metric name -> counter, gauge ...
	std::map<std::string, double> samples;             // "name{labels as written}" -> value
	std::map<std::string, std::map<std::string, std::string>> labelSets; // name -> last sample's labels

	double value(const std::string &series) const
	{
		auto it = samples.find(series);
		return it == samples.end() ? -1 : it->second;
	}
	const std::map<std::string, std::string> &labels(const std::string &name) const { return labelSets.at(name); }
};

inline PrometheusText parsePrometheus(const std::string &text)
{
	PrometheusText out;
	auto fail = [&](std::size_t line, const std::string &why) {
		out.error = "line " + std::to_string(line) + ": " + why;
		return out;
	};
	if (!text.empty() && text.back() != '\n')
		return fail(0, "does not end with a newline");
	static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
	static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
	static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?[0-9]+)?)");
	static const std::regex kValue(R"([-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|NaN|[-+]Inf)");
	std::set<std::string> finished; // metrics whose samples are over
	std::string current;
	std::istringstream in(text);
	std::string line;
	for (std::size_t n = 1; std::getline(in, line); ++n) {
		std::smatch m;
		if (line.empty())
			continue;
		if (line.starts_with("# TYPE")) {
			if (!std::regex_match(line, m, kType))
				return fail(n, "bad TYPE line");
			if (out.types.count(m[1]))
				return fail(n, "a second TYPE for " + m[1].str());
			out.types[m[1]] = m[2];
			continue;
		}
		if (line.starts_with("# HELP")) {
			if (!std::regex_match(line, m, kHelp))
				return fail(n, "bad HELP line");
			continue;
		}
		if (line[0] == '#')
			continue;
		if (!std::regex_match(line, m, kSample))
			return fail(n, "not a sample");
		std::string name = m[1];
		if (!out.types.count(name))
			return fail(n, name + " has no TYPE before it");
		if (name != current) {
			if (finished.count(name))
				return fail(n, name + "'s samples are not together");
			if (!current.empty())
				finished.insert(current);
			current = name;
		}
		if (!std::regex_match(m[4].str(), kValue))
			return fail(n, "bad value " + m[4].str());
		// Labels: name="value" pairs, the value with \\ \" \n escapes only.
		std::map<std::string, std::string> labels;
		std::string body = m[3];
		for (std::size_t at = 0; at < body.size();) {
			static const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");
			auto eq = body.find("=\"", at);
			if (eq == std::string::npos || !std::regex_match(body.substr(at, eq - at), kLabelName))
				return fail(n, "bad label name");
			std::string value;
			std::size_t i = eq + 2;
			for (; i < body.size() && body[i] != '"'; ++i) {
				if (body[i] == '\n')
					return fail(n, "raw newline in a label value");
				if (body[i] != '\\') {
					value += body[i];
					continue;
				}
				char next = ++i < body.size() ? body[i] : '\0';
				if (next != '\\' && next != '"' && next != 'n')
					return fail(n, "bad escape in a label value");
				value += next == 'n' ? '\n' : next;
			}
			if (i >= body.size())
				return fail(n, "unterminated label value");
			if (!labels.emplace(body.substr(at, eq - at), value).second)
				return fail(n, "a label given twice");
			at = i + 1;
			if (at < body.size() && body[at++] != ',')
				return fail(n, "labels not separated by ','");
		}
		std::string series = name + (m[2].matched ? m[2].str() : "");
		if (!out.samples.emplace(series, std::strtod(m[4].str().c_str(), nullptr)).second)
			return fail(n, "a series given twice: " + series);
		out.labelSets[name] = labels;
	}
	return out;
}

} // namespace lw::test

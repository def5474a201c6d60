// Command-line helpers: argument walking and the storage root from daemon.json.
#include "options.h"

#include <layerwatch/model.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace lwcli {

std::optional<std::string> ArgWalker::value()
{
	if (i + 1 >= args.size())
		return std::nullopt;
	return args[++i];
}

int ArgWalker::unknown() const
{
	return usageError(command, fmt::format("unknown argument '{}'", args[i]));
}

int ArgWalker::missingValue() const
{
	return usageError(command, fmt::format("{} needs a value", args[i]));
}

int ArgWalker::takeRoot(RootChoice &choice)
{
	const std::string &arg = args[i];
	if (arg != "--root" && arg != "--config")
		return -1;
	auto v = value();
	if (!v)
		return usageError(command, fmt::format("{} needs a value", arg));
	(arg == "--root" ? choice.root : choice.config) = *v;
	return 0;
}

int resolveRoot(const std::string &command, const RootChoice &choice, std::string &root)
{
	if (!choice.root.empty() && !choice.config.empty())
		return usageError(command, "give --root or --config, not both");
	if (choice.config.empty()) {
		if (choice.root.empty())
			return usageError(command, "--root (or --config) is required");
		root = choice.root;
		return 0;
	}
	auto fail = [&](const std::string &message) {
		std::fprintf(stderr, "layerwatch %s: %s: %s\n", command.c_str(), choice.config.c_str(), message.c_str());
		return 1;
	};
	std::ifstream in(choice.config, std::ios::binary);
	if (!in)
		return fail("cannot be read");
	std::string text(lw::kMaxJsonBytes + 1, '\0');
	in.read(text.data(), static_cast<std::streamsize>(text.size()));
	text.resize(static_cast<std::size_t>(in.gcount()));
	if (text.size() > lw::kMaxJsonBytes)
		return fail("larger than 1 MiB");
	rapidjson::Document doc;
	doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
	if (doc.HasParseError())
		return fail(fmt::format("invalid JSON at offset {}: {}", doc.GetErrorOffset(),
					rapidjson::GetParseError_En(doc.GetParseError())));
	if (!doc.IsObject())
		return fail("expected a JSON object");
	auto remote = doc.FindMember("storage-enable-remote-layer");
	if (remote == doc.MemberEnd() || !remote->value.IsBool() || !remote->value.GetBool())
		return fail("\"storage-enable-remote-layer\" is not true: this iSulad does not use the shared RO "
			    "layout, so there is nothing for layerwatch to follow");
	std::string graph = "/var/lib/isulad"; // iSulad's default
	if (auto g = doc.FindMember("graph"); g != doc.MemberEnd()) {
		if (!g->value.IsString() || g->value.GetStringLength() == 0)
			return fail("\"graph\" must be a non-empty string");
		graph = g->value.GetString();
	}
	while (graph.size() > 1 && graph.back() == '/')
		graph.pop_back();
	root = graph + "/storage";
	return 0;
}

} // namespace lwcli

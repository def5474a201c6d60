// Command-line helpers: the option parser and the storage root from daemon.json.
#include "options.h"

#include <layerwatch/model.h>
#include <layerwatch/paths.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace lwcli {

int usageError(const std::string &command, const std::string &message)
{
	std::fprintf(stderr, "layerwatch %s: %s (see layerwatch %s --help)\n", command.c_str(), message.c_str(),
		     command.c_str());
	return 2;
}

std::optional<unsigned long> parseWhole(const std::string &text, unsigned long min, unsigned long max)
{
	char *end = nullptr;
	errno = 0;
	unsigned long value = std::strtoul(text.c_str(), &end, 10);
	if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || value < min || value > max)
		return std::nullopt;
	return value;
}

Option flag(std::string name, char letter, bool &on)
{
	return {std::move(name), letter, false, [&on](const std::string &) {
			on = true;
			return 0;
		}};
}

Option text(std::string name, char letter, std::string &to)
{
	return {std::move(name), letter, true, [&to](const std::string &value) {
			to = value;
			return 0;
		}};
}

namespace {

// Gives the option its value; a value given to a flag ("--json=1") or missing is a
// usage error.
int take(const std::string &command, const Option &option, const std::optional<std::string> &value,
	 const std::string &spelled)
{
	if (!option.takesValue && value)
		return usageError(command, fmt::format("{} takes no value", spelled));
	if (option.takesValue && (!value || value->empty()))
		return usageError(command, fmt::format("{} needs a value", spelled));
	return option.take(value.value_or(std::string()));
}

} // namespace

std::optional<int> parseArgs(const std::string &command, const Args &args, const std::vector<Option> &options,
			     const char *help, std::vector<std::string> *positional, std::size_t maxPositional)
{
	auto find = [&](auto match) {
		auto it = std::find_if(options.begin(), options.end(), match);
		return it == options.end() ? nullptr : &*it;
	};
	bool optionsEnd = false;
	for (std::size_t i = 0; i < args.size(); ++i) {
		const std::string &arg = args[i];
		// The next argument as a value, when the option wants one.
		auto next = [&]() -> std::optional<std::string> {
			if (i + 1 >= args.size())
				return std::nullopt;
			return args[++i];
		};
		if (!optionsEnd && (arg == "--help" || arg == "-h")) {
			std::fputs(help, stdout);
			return 0;
		}
		if (!optionsEnd && arg == "--") {
			optionsEnd = true;
		} else if (!optionsEnd && arg.starts_with("--")) {
			auto eq = arg.find('=');
			std::string name = arg.substr(0, eq);
			const Option *option = find([&](const Option &o) { return o.name == name; });
			if (!option)
				return usageError(command, fmt::format("unknown option '{}'", name));
			std::optional<std::string> value;
			if (eq != std::string::npos)
				value = arg.substr(eq + 1);
			else if (option->takesValue)
				value = next();
			if (int r = take(command, *option, value, name); r != 0)
				return r;
		} else if (!optionsEnd && arg.size() > 1 && arg[0] == '-') {
			// -o value, -ovalue, or bundled flags -jv.
			for (std::size_t at = 1; at < arg.size(); ++at) {
				std::string spelled = fmt::format("-{}", arg[at]);
				const Option *option = find([&](const Option &o) { return o.letter != 0 && o.letter == arg[at]; });
				if (!option)
					return usageError(command, fmt::format("unknown option '{}'", spelled));
				std::optional<std::string> value;
				if (option->takesValue)
					value = at + 1 < arg.size() ? std::optional(arg.substr(at + 1)) : next();
				if (int r = take(command, *option, value, spelled); r != 0)
					return r;
				if (option->takesValue)
					break;
			}
		} else if (positional && positional->size() < maxPositional) {
			positional->push_back(arg);
		} else {
			return usageError(command, fmt::format("unexpected argument '{}'", arg));
		}
	}
	return std::nullopt;
}

std::vector<Option> rootOptions(RootChoice &choice)
{
	return {text("--root", 'r', choice.root), text("--config", 'c', choice.config)};
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

namespace {

// Whether folder holds one of the three trees; an error other than ENOENT counts as
// holding it (the read that follows reports that error, not a wrong root).
bool holdsTree(const std::string &folder)
{
	for (std::string_view tree : {lw::paths::kOverlay, lw::paths::kLayers, lw::paths::kImages}) {
		struct stat st;
		if (::stat(fmt::format("{}/{}", folder, tree).c_str(), &st) == 0 ? S_ISDIR(st.st_mode)
										 : errno != ENOENT && errno != ENOTDIR)
			return true;
	}
	return false;
}

} // namespace

int resolveStore(const std::string &command, const RootChoice &choice, std::string &root)
{
	if (int r = resolveRoot(command, choice, root); r != 0)
		return r;
	struct stat st;
	// A root that cannot be opened at all is the reader's to report, with its errno.
	if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || holdsTree(root))
		return 0;
	std::string hint;
	std::string inner = (root.ends_with('/') ? root : root + "/") + "storage";
	if (holdsTree(inner))
		hint = fmt::format(" (did you mean {}?)", inner);
	std::fprintf(stderr, "layerwatch %s: not a layer store: %s has none of overlay/, overlay-layers/, overlay-images/%s\n",
		     command.c_str(), root.c_str(), hint.c_str());
	return 1;
}

} // namespace lwcli

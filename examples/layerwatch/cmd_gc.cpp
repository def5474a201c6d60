// `layerwatch gc --root R`: the writing side's sweep of what killed writers left.
#include "commands.h"
#include "options.h"

#include <layerwatch/writer.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch gc --root R [--older-than SECONDS]\n"
	"\n"
	"Removes what writers killed on the way left below R: the temporary \".tmp-*\"\n"
	"and \".trash-*\" entries of the shared trees, and the temporary links of the\n"
	"local link folders, once unchanged for SECONDS (default 3600, so that a writer\n"
	"still at work keeps its own). Half-made layers and images need no sweep: they are\n"
	"never ready, and the next publish of the same id replaces them.\n";

} // namespace

int runGc(const Args &args)
{
	RootChoice choice;
	long olderThan = 3600;
	for (ArgWalker a{"gc", args}; a.i < args.size(); ++a.i) {
		const auto &arg = args[a.i];
		if (arg == "--help" || arg == "-h") {
			std::fputs(kHelp, stdout);
			return 0;
		} else if (arg == "--older-than") {
			auto v = a.value();
			if (!v)
				return a.missingValue();
			char *end = nullptr;
			olderThan = std::strtol(v->c_str(), &end, 10);
			if (v->empty() || *end != '\0' || olderThan < 0)
				return usageError("gc", "--older-than takes a number of seconds");
		} else if (int r = a.takeRoot(choice); r >= 0) {
			if (r != 0)
				return r;
		} else {
			return a.unknown();
		}
	}
	std::string root;
	if (int r = resolveRoot("gc", choice, root); r != 0)
		return r;
	// Sweeping never makes a store: a mistyped root is an error, not a new folder.
	if (struct stat st; ::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
		std::fprintf(stderr, "layerwatch gc: %s: no such folder\n", root.c_str());
		return 1;
	}
	auto writer = lw::StoreWriter::open(root);
	if (!writer) {
		std::fprintf(stderr, "layerwatch gc: %s\n", writer.error().message.c_str());
		return 1;
	}
	auto removed = writer->removeLeftovers(olderThan);
	if (!removed) {
		std::fprintf(stderr, "layerwatch gc: %s\n", removed.error().message.c_str());
		return 1;
	}
	std::printf("removed %zu leftovers\n", *removed);
	return 0;
}

} // namespace lwcli

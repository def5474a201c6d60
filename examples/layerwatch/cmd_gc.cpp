// `layerwatch gc --root R`: the writing side's sweep of what killed writers left.
#include "commands.h"
#include "options.h"
#include "text_out.h"

#include <layerwatch/writer.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch gc (-r R | -c DAEMON_JSON) [--older-than SECONDS] [-n]\n"
	"\n"
	"Removes what writers killed on the way left below R: the temporary \".tmp-*\"\n"
	"and \".trash-*\" entries of the shared trees, and the temporary links of the\n"
	"local link folders, once nothing in them has changed for SECONDS (default 3600):\n"
	"a writer still at work keeps its own. Half-made layers and images need no sweep:\n"
	"they are never ready, and the next publish of the same id replaces them.\n"
	"\n"
	LW_ROOT_OPTIONS_HELP
	"  --older-than SECONDS  how long nothing in a leftover has changed (3600)\n"
	"  -n, --dry-run         print what would be removed, and remove nothing\n";

} // namespace

int runGc(const Args &args)
{
	RootChoice choice;
	std::string olderThanText;
	bool dryRun = false;
	auto options = rootOptions(choice);
	options.insert(options.end(), {text("--older-than", 0, olderThanText), flag("--dry-run", 'n', dryRun)});
	if (auto done = parseArgs("gc", args, options, kHelp))
		return *done;
	long olderThan = 3600;
	if (!olderThanText.empty()) {
		char *end = nullptr;
		errno = 0;
		olderThan = std::strtol(olderThanText.c_str(), &end, 10);
		if (*end != '\0' || errno != 0 || olderThan < 0)
			return usageError("gc", "--older-than takes a number of seconds");
	}
	std::string root;
	if (int r = resolveStore("gc", choice, root); r != 0)
		return r;
	// Sweeping never makes a store: a mistyped root is an error, not a new folder.
	if (struct stat st; ::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
		std::fprintf(stderr, "layerwatch gc: %s: no such folder\n", printable(root).c_str());
		return 1;
	}
	auto fail = [](const lw::Error &error) {
		std::fprintf(stderr, "layerwatch gc: %s\n", printable(error.message).c_str());
		return 1;
	};
	auto writer = lw::StoreWriter::open(root);
	if (!writer)
		return fail(writer.error());
	if (dryRun) {
		auto found = writer->findLeftovers(olderThan);
		if (!found)
			return fail(found.error());
		for (const auto &path : *found)
			std::printf("would remove %s\n", printable(path).c_str());
		std::printf("%zu leftovers\n", found->size());
		return 0;
	}
	auto removed = writer->removeLeftovers(olderThan);
	if (!removed)
		return fail(removed.error());
	std::printf("removed %zu leftovers\n", *removed);
	return 0;
}

} // namespace lwcli

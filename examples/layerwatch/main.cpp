// The layerwatch program: operators' and tests' way into the library.
#include "commands.h"

#include <lw_config.h>

#include <cstdio>
#include <cstring>

namespace {

constexpr const char *kHelp =
	"usage: layerwatch COMMAND [OPTIONS]\n"
	"\n"
	"Keeps a container engine's image and layer stores in step with a shared,\n"
	"read-only layer store (iSulad's remote RO layout).\n"
	"\n"
	"commands (each takes -r/--root R, or -c/--config DAEMON_JSON for iSulad's):\n"
	"  scan -r R [-j]       validate the store once, read-only, and exit\n"
	"  images -r R          the ready images, as `isula images` lists them\n"
	"  watch -r R [-j]      load the store, then follow it until SIGINT/SIGTERM\n"
	"  publish -r R ...     writer side: publish an image (synthetic or from folders)\n"
	"  rmi -r R IMAGE       writer side: remove an image and the layers it alone used\n"
	"  gc -r R              writer side: remove what killed writers left\n"
	"  demo                 a temporary store, a writer publishing into it, and\n"
	"                       layerwatch reading it\n"
	"\n"
	"  layerwatch COMMAND --help   for a command's options (man layerwatch for all)\n"
	"  layerwatch -V, --version\n";

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "layerwatch: a command is required (see layerwatch --help)\n");
		return 2;
	}
	std::string command = argv[1];
	lwcli::Args args(argv + 2, argv + argc);
	if (command == "--help" || command == "-h" || command == "help") {
		std::fputs(kHelp, stdout);
		return 0;
	}
	if (command == "--version" || command == "-V") {
		std::printf("layerwatch %s\n", LW_VERSION);
		return 0;
	}
	if (command == "scan")
		return lwcli::runScan(args);
	if (command == "watch")
		return lwcli::runWatch(args);
	if (command == "publish")
		return lwcli::runPublish(args);
	if (command == "rmi")
		return lwcli::runRmi(args);
	if (command == "gc")
		return lwcli::runGc(args);
	if (command == "images")
		return lwcli::runImages(args);
	if (command == "demo")
		return lwcli::runDemo(args);
	std::fprintf(stderr, "layerwatch: unknown command '%s' (see layerwatch --help)\n", command.c_str());
	return 2;
}

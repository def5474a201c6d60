// Command-line helpers shared by the commands: one option parser (GNU conventions)
// and the storage root, from --root or from iSulad's daemon.json (--config).
#pragma once

#include "commands.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lwcli {

// One option a command takes: "--root", its short form 'r' (or 0), and what to do
// with it. take() gets the value ("" for a flag) and returns 0, or the exit code of a
// usage error it has printed.
struct Option {
	std::string name;
	char letter = 0;
	bool takesValue = false;
	std::function<int(const std::string &value)> take;
};

// A flag that sets `on`.
Option flag(std::string name, char letter, bool &on);
// An option with a value, copied into `to`; an empty value is refused.
Option text(std::string name, char letter, std::string &to);

// A whole decimal number in [min, max] (no sign, nothing after it), as the numeric
// options take it; nothing when it is not one.
std::optional<unsigned long> parseWhole(const std::string &text, unsigned long min, unsigned long max);

// Parses args as GNU tools do: "--opt value", "--opt=value", "-o value", "-ovalue",
// flags bundled ("-jv"), "--" ends the options; -h/--help prints help and exits 0.
// Arguments that are not options go to positional (at most maxPositional of them).
// Returns nothing to go on, or the exit code to return now.
std::optional<int> parseArgs(const std::string &command, const Args &args, const std::vector<Option> &options,
			     const char *help, std::vector<std::string> *positional = nullptr,
			     std::size_t maxPositional = 0);

// --root R, or --config FILE (root = graph + "/storage"; the remote-layer switch
// must be on).
struct RootChoice {
	std::string root;
	std::string config;
};

// The help lines of the two options that choose the root, for each command's help
// (a macro: the help texts are string literals joined at compile time).
#define LW_ROOT_OPTIONS_HELP \
	"  -r, --root R          the storage root (iSulad: /var/lib/isulad/storage)\n" \
	"  -c, --config F        iSulad's daemon.json: the root is its graph + /storage\n" \
	"                        (storage-enable-remote-layer must be true)\n"

// The two options that choose the root: -r/--root and -c/--config.
std::vector<Option> rootOptions(RootChoice &choice);

// The root from choice: 0 and the root, or the code of the error already printed.
int resolveRoot(const std::string &command, const RootChoice &choice, std::string &root);

// For commands that work on an existing store: resolveRoot, then 0 if root holds at
// least one of the three shared trees; else 1, with "not a layer store" (and the
// likely right root) printed.
int resolveStore(const std::string &command, const RootChoice &choice, std::string &root);

} // namespace lwcli

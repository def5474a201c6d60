// Command-line helpers shared by the commands: one argument walker and the storage
// root, from --root or from iSulad's daemon.json (--config).
#pragma once

#include "commands.h"

#include <functional>
#include <optional>
#include <string>

namespace lwcli {

// --root R, or --config FILE (root = graph + "/storage"; the remote-layer switch
// must be on). Exit code 0 and the root, or the code of the error already printed.
struct RootChoice {
	std::string root;
	std::string config;
};

// The position in one command's arguments, with the helpers every command shares;
// each returns 0 or the exit code of a usage error it has printed.
struct ArgWalker {
	const std::string command;
	const Args &args;
	std::size_t i = 0;

	// The value of the option at i (advancing), or nullopt if it is missing.
	std::optional<std::string> value();
	int unknown() const;
	int missingValue() const;
	// --root R or --config F at i: taken into choice. Returns -1 when the argument is
	// neither, else 0 or the exit code of a usage error.
	int takeRoot(RootChoice &choice);
};

// The root from choice (see RootChoice).
int resolveRoot(const std::string &command, const RootChoice &choice, std::string &root);

} // namespace lwcli

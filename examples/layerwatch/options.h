// Command-line helpers shared by the commands: one argument walker and the storage
// root, from --root or from iSulad's daemon.json (--config).
#pragma once

#include "commands.h"

#include <functional>
#include <optional>
#include <string>

namespace lwcli {

// Walks args: flags without a value, options with one. handler returns false for
// an argument it does not know. Returns 0, or the exit code of a usage error.
struct ArgWalker {
	const std::string command;
	const Args &args;
	std::size_t i = 0;

	// The value of the option at i (advancing), or nullopt if it is missing.
	std::optional<std::string> value();
	int unknown() const;
	int missingValue() const;
};

// --root R, or --config FILE (root = graph + "/storage"; the remote-layer switch
// must be on). Exit code 0 and the root, or the code of the error already printed.
struct RootChoice {
	std::string root;
	std::string config;
};
int resolveRoot(const std::string &command, const RootChoice &choice, std::string &root);

} // namespace lwcli

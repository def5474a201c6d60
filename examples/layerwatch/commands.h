// The layerwatch program's commands. Each returns the process exit code:
// 0 done, 1 a runtime failure (missing root ...), 2 bad arguments.
#pragma once

#include <string>
#include <vector>

namespace lwcli {

using Args = std::vector<std::string>;

int runScan(const Args &args);
int runDemo(const Args &args);
int runWatch(const Args &args);
int runPublish(const Args &args);
int runRmi(const Args &args);
int runGc(const Args &args);
int runImages(const Args &args);

// Prints "layerwatch CMD: MESSAGE" on stderr and returns 2.
int usageError(const std::string &command, const std::string &message);

} // namespace lwcli

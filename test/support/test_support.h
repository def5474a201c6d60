// Helpers shared by the tests: temporary folders, file I/O, fixture paths, skipping.
#pragma once

#include <layerwatch/events.h>
#include <layerwatch/result.h>
#include <layerwatch/watcher.h>

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace lw::test {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it at the end.
class TempDir {
public:
	TempDir();
	// Below base instead of TMPDIR (a tmpfs such as /dev/shm, for tests that make and
	// remove many thousand folders: ext4 takes seconds over it).
	explicit TempDir(const std::string &base);
	~TempDir();
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;
	const std::string &path() const { return path_; }
	std::string operator/(const std::string &rel) const { return path_ + "/" + rel; }

private:
	std::string path_;
};

// Where the copy of the real iSulad files lives (test/data/isulad).
std::string fixturesDir();

std::string readFile(const std::string &path);
void writeFile(const std::string &path, const std::string &content);
void makeDirs(const std::string &path);
void makeSymlink(const std::string &target, const std::string &path);
bool exists(const std::string &path); // lstat: a dangling link exists
std::string readLinkAt(const std::string &path);
void removeAll(const std::string &path);
// Every path below root (relative, sorted) with its type and content, for
// "nothing changed" checks: "f:<content>", "d", "l:<target>".
std::map<std::string, std::string> snapshotTree(const std::string &root);

// Runs a shell command; returns its exit status.
int run(const std::string &command);

// A shell command's exit status, stdout and stderr (each byte, NULs too).
struct ProgramRun {
	int status;
	std::string out, err;
};
ProgramRun runProgram(const std::string &command);

// A store at root with one base layer and one image on it ("app:1"), written as a
// pulling host writes (no local links). Returns the image's id.
std::string storeWithOneImage(const std::string &root);

// A random valid id; distinct on every call.
std::string makeId();

// Unwraps a Result in a test, failing with its message.
template <class T>
T unwrap(Result<T> r)
{
	if (!r.ok())
		FAIL("unexpected error: " << r.error().message);
	return std::move(r).value();
}
inline void unwrap(Result<void> r)
{
	if (!r.ok())
		FAIL("unexpected error: " << r.error().message);
}

// Polls cond every few milliseconds until it holds or the deadline passes, for
// states that no event announces (a counter in stats()).
bool eventually(const std::function<bool()> &cond, std::chrono::milliseconds timeout);

// How many times slower a sanitized build runs, for the deadlines of timing checks
// (never for what a check asserts otherwise).
#ifndef LW_SANITIZED
#define LW_SANITIZED 0
#endif
inline constexpr int kSlowdown = LW_SANITIZED ? 4 : 1;

// Exit code meson reads as "skipped".
inline constexpr int kSkipExitCode = 77;
[[noreturn]] void skipTest(const std::string &why);

// The kernel source the engine tests run with, from LW_TEST_MODE: "inotify" (the
// default) or "fanotify" (the fanotify suite runs the same tests again), so that
// each backend is covered on purpose rather than by whatever auto picks.
WatchMode watchMode();
const char *backendName();         // "inotify" or "fanotify"
EventSource kernelEventSource();   // the source of events that backend reports
// Exits 77 when LW_TEST_MODE asks for a backend this machine cannot give (fanotify
// without CAP_SYS_ADMIN, or on a filesystem without file handles).
void skipIfModeUnavailable();
// Exits 77, saying why, when fanotify cannot be had on $TMPDIR's filesystem.
void skipUnlessFanotify();

} // namespace lw::test

// Helpers shared by the tests.
#include "test_support.h"

#include "fanotify_source.h"

#include <layerwatch/writer.h>

#include <dirent.h>
#include <ftw.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>
#include <functional>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

namespace lw::test {

namespace {
std::string defaultTempBase()
{
	const char *base = std::getenv("TMPDIR");
	return base && *base ? base : "/tmp";
}
} // namespace

TempDir::TempDir() : TempDir(defaultTempBase()) {}

TempDir::TempDir(const std::string &base)
{
	std::string tmpl = base + "/layerwatch-test-XXXXXX";
	if (!::mkdtemp(tmpl.data()))
		throw std::runtime_error("mkdtemp failed");
	path_ = tmpl;
}

TempDir::~TempDir()
{
	removeAll(path_);
}

std::string fixturesDir()
{
	if (const char *env = std::getenv("LW_FIXTURES"))
		return env;
	return LW_SOURCE_DIR "/test/data/isulad";
}

std::string readFile(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		throw std::runtime_error("cannot read " + path);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

std::string storeWithOneImage(const std::string &root)
{
	auto writer = unwrap(StoreWriter::open(root, {.durable = false, .makeLinks = false}));
	std::string base = makeId();
	unwrap(writer.addLayer({.id = base}));
	return unwrap(writer.publishImage({.topLayer = base, .names = {"app:1"}}));
}

bool eventually(const std::function<bool()> &cond, std::chrono::milliseconds timeout)
{
	auto deadline = std::chrono::steady_clock::now() + timeout;
	while (!cond()) {
		if (std::chrono::steady_clock::now() >= deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
	return true;
}

void writeFile(const std::string &path, const std::string &content)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	if (!out)
		throw std::runtime_error("cannot write " + path);
	out << content;
}

void makeDirs(const std::string &path)
{
	for (std::size_t pos = 1; pos <= path.size(); ++pos)
		if (pos == path.size() || path[pos] == '/')
			::mkdir(path.substr(0, pos).c_str(), 0755);
}

void makeSymlink(const std::string &target, const std::string &path)
{
	if (::symlink(target.c_str(), path.c_str()) != 0)
		throw std::runtime_error("symlink failed: " + path);
}

bool exists(const std::string &path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0;
}

std::string readLinkAt(const std::string &path)
{
	char buf[4096];
	ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
	return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

void removeAll(const std::string &path)
{
	if (path.empty())
		return;
	::nftw(path.c_str(), [](const char *p, const struct stat *, int, struct FTW *) {
		::remove(p);
		return 0;
	}, 64, FTW_DEPTH | FTW_PHYS);
}

std::map<std::string, std::string> snapshotTree(const std::string &root)
{
	std::map<std::string, std::string> out;
	std::function<void(const std::string &)> walk = [&](const std::string &rel) {
		std::string dir = rel.empty() ? root : root + "/" + rel;
		DIR *d = ::opendir(dir.c_str());
		if (!d)
			return;
		while (auto *e = ::readdir(d)) {
			std::string name = e->d_name;
			if (name == "." || name == "..")
				continue;
			std::string r = rel.empty() ? name : rel + "/" + name;
			std::string full = root + "/" + r;
			struct stat st;
			if (::lstat(full.c_str(), &st) != 0)
				continue;
			if (S_ISLNK(st.st_mode)) {
				out[r] = "l:" + readLinkAt(full);
			} else if (S_ISDIR(st.st_mode)) {
				out[r] = "d";
				walk(r);
			} else {
				out[r] = "f:" + readFile(full);
			}
		}
		::closedir(d);
	};
	walk("");
	return out;
}

int run(const std::string &command)
{
	int status = std::system(command.c_str());
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

ProgramRun runProgram(const std::string &command)
{
	TempDir tmp;
	int status = run(command + " >" + tmp.path() + "/out 2>" + tmp.path() + "/err");
	return {status, readFile(tmp / "out"), readFile(tmp / "err")};
}

std::string makeId()
{
	// Tests call it from hooks on worker threads too.
	static std::mutex mutex;
	std::lock_guard lock(mutex);
	static std::mt19937_64 rng(std::random_device{}());
	static constexpr char kHex[] = "0123456789abcdef";
	std::string id(64, '0');
	for (auto &c : id)
		c = kHex[rng() % 16];
	return id;
}

void skipTest(const std::string &why)
{
	std::fprintf(stderr, "SKIP: %s\n", why.c_str());
	std::exit(kSkipExitCode);
}

WatchMode watchMode()
{
	const char *mode = std::getenv("LW_TEST_MODE");
	return mode && std::string(mode) == "fanotify" ? WatchMode::Fanotify : WatchMode::Inotify;
}

const char *backendName()
{
	return watchModeName(watchMode());
}

EventSource kernelEventSource()
{
	return watchMode() == WatchMode::Fanotify ? EventSource::Fanotify : EventSource::Inotify;
}

void skipIfModeUnavailable()
{
	if (watchMode() == WatchMode::Fanotify)
		skipUnlessFanotify();
}

void skipUnlessFanotify()
{
	TempDir where;
	if (auto probe = FanotifySource::open(where.path(), {}); !probe)
		skipTest(probe.error().message);
}

} // namespace lw::test

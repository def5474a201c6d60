// bindfs mounts for the remote tests, with their server's pid found in /proc.
#include "bindfs_mount.h"

#include "test_support.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace lw::test {

namespace {

// The bindfs process serving `to`: its command line names both folders.
pid_t findServer(const std::string &to)
{
	DIR *proc = ::opendir("/proc");
	if (!proc)
		return -1;
	pid_t found = -1;
	while (struct dirent *e = ::readdir(proc)) {
		pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
		if (pid <= 0)
			continue;
		std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline");
		std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
		std::string last = cmdline.substr(0, cmdline.size() > 0 ? cmdline.size() - 1 : 0);
		last = last.substr(last.rfind('\0') == std::string::npos ? 0 : last.rfind('\0') + 1);
		if (cmdline.find("bindfs") != std::string::npos && last == to)
			found = pid;
	}
	::closedir(proc);
	return found;
}

} // namespace

bool haveBindfs()
{
	return ::access("/dev/fuse", R_OK | W_OK) == 0 && run("command -v bindfs >/dev/null") == 0;
}

BindfsMount::BindfsMount(const std::string &from, const std::string &to) : from_(from), to_(to)
{
	makeDirs(to);
	mount();
}

BindfsMount::~BindfsMount()
{
	thaw();
	unmount();
}

bool BindfsMount::mount()
{
	mounted_ = run("bindfs " + from_ + " " + to_ + " 2>/dev/null") == 0;
	server_ = mounted_ ? findServer(to_) : -1;
	return mounted_;
}

void BindfsMount::unmount()
{
	if (mounted_)
		::umount2(to_.c_str(), MNT_DETACH);
	mounted_ = false;
}

void BindfsMount::freeze()
{
	if (server_ > 0)
		::kill(server_, SIGSTOP);
}

void BindfsMount::thaw()
{
	if (server_ > 0)
		::kill(server_, SIGCONT);
}

} // namespace lw::test

// A child process with its stdout on a pipe.
#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace lw::test {

ChildProcess::ChildProcess(const std::vector<std::string> &argv)
{
	int fds[2];
	if (::pipe2(fds, O_CLOEXEC) != 0)
		throw std::runtime_error("pipe2 failed");
	// Made before the fork: between fork and exec a child of a threaded process may
	// not allocate (another thread may have held the allocator's lock at the fork).
	std::vector<char *> args;
	for (const auto &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);
	pid_ = ::fork();
	if (pid_ < 0)
		throw std::runtime_error("fork failed");
	if (pid_ == 0) {
		::dup2(fds[1], 1);
		::execv(args[0], args.data());
		::_exit(127);
	}
	::close(fds[1]);
	out_ = fds[0];
}

ChildProcess::~ChildProcess()
{
	if (!reaped_ && pid_ > 0) {
		::kill(pid_, SIGKILL);
		::waitpid(pid_, nullptr, 0);
	}
	if (out_ >= 0)
		::close(out_);
}

bool ChildProcess::readLine(std::string &line, std::chrono::milliseconds timeout)
{
	auto deadline = std::chrono::steady_clock::now() + timeout;
	for (;;) {
		auto nl = buffer_.find('\n');
		if (nl != std::string::npos) {
			line = buffer_.substr(0, nl);
			buffer_.erase(0, nl + 1);
			return true;
		}
		auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0)
			return false;
		struct pollfd p = {out_, POLLIN, 0};
		int r = ::poll(&p, 1, static_cast<int>(left.count()));
		if (r <= 0)
			continue;
		char chunk[4096];
		ssize_t n = ::read(out_, chunk, sizeof(chunk));
		if (n <= 0)
			return false;
		buffer_.append(chunk, static_cast<std::size_t>(n));
	}
}

int ChildProcess::wait(std::chrono::milliseconds timeout)
{
	auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline) {
		int status;
		pid_t r = ::waitpid(pid_, &status, WNOHANG);
		if (r == pid_) {
			reaped_ = true;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return -1;
}

} // namespace lw::test

// A child process with its stdout on a pipe, read line by line with a deadline.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

namespace lw::test {

class ChildProcess {
public:
	explicit ChildProcess(const std::vector<std::string> &argv);
	~ChildProcess(); // kills (SIGKILL) and reaps it if still running
	ChildProcess(const ChildProcess &) = delete;
	ChildProcess &operator=(const ChildProcess &) = delete;

	pid_t pid() const { return pid_; }
	// The next line of stdout, or false at EOF or when the deadline passes.
	bool readLine(std::string &line, std::chrono::milliseconds timeout);
	// Waits for the exit; returns the exit status (128+signal when killed), or -1 on timeout.
	int wait(std::chrono::milliseconds timeout);

private:
	pid_t pid_ = -1;
	int out_ = -1;
	std::string buffer_;
	bool reaped_ = false;
};

} // namespace lw::test

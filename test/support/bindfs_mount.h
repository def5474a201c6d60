// A bindfs (FUSE) mount standing in for an NFS share: the reader sees the tree
// through it, the writer writes underneath, and its server can be stopped
// (SIGSTOP) to play a server that stops answering. Unmounted when it goes.
#pragma once

#include <sys/types.h>

#include <string>

namespace lw::test {

class BindfsMount {
public:
	BindfsMount(const std::string &from, const std::string &to);
	~BindfsMount(); // answers again (SIGCONT), then unmounts
	BindfsMount(const BindfsMount &) = delete;
	BindfsMount &operator=(const BindfsMount &) = delete;

	bool mounted() const { return mounted_; }
	bool mount();   // again, after unmount()
	void unmount(); // lazily: a reader holding it keeps what it holds
	// The FUSE server stops answering (SIGSTOP) or answers again (SIGCONT).
	void freeze();
	void thaw();

private:
	std::string from_, to_;
	bool mounted_ = false;
	pid_t server_ = -1;
};

// Whether bindfs and /dev/fuse can be had here.
bool haveBindfs();

} // namespace lw::test

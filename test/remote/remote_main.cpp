// The remote suite's main: skipped (77) without FUSE and bindfs; as root, in a mount
// namespace of its own, so that no mount leaks out.
#define DOCTEST_CONFIG_IMPLEMENT
#include "bindfs_mount.h"
#include "test_support.h"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (!lw::test::haveBindfs())
		lw::test::skipTest("needs /dev/fuse and bindfs");
	if (::geteuid() == 0 && ::unshare(CLONE_NEWNS) == 0)
		::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
	doctest::Context context(argc, argv);
	return context.run();
}

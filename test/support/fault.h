// Faults through the syscall seam (src/sys.h) for tests of the unhappy paths: one
// stage of reading fails with one errno, from whatever thread reads, until cleared.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace lw::test {

enum class FaultStage {
	List, // getdents64: a folder listing
	Stat, // statx: an identity probe or a look by name
	Open, // openat of an item's file (layer.json, images.json, manifest, link, lower)
	Read, // read of an open file
};

const char *faultStageName(FaultStage stage);

// Installs itself, disarmed, for its lifetime; one at a time. Install it before any
// thread reads (the table itself is not atomic) and destroy it after they stopped;
// arm() and clear() from any thread.
class Fault {
public:
	explicit Fault(FaultStage stage);
	~Fault();
	Fault(const Fault &) = delete;
	Fault &operator=(const Fault &) = delete;

	void arm(int error);       // the stage fails with error from now on
	void clear();              // the seam answers truly again (still installed)
	std::uint64_t hits() const; // calls failed so far
};

} // namespace lw::test

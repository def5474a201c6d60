// What a read may not be taken on yet. Errors are not absence, and they are not
// presence either (DESIGN.md section 4): a layer half read while its other half
// cannot be read, or an image read while its top layer cannot be, is held back as
// trouble, which keeps the last known state and is read again with backoff. Taken
// on what is known, either would be made anew once the rest is read: a removal the
// writer never made. Loop-bound, like the policy it consults.
#pragma once

#include "policy.h"
#include "tree_reader.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace lw {

class HeldBack {
public:
	// Marks as trouble, in one batch's results, what must wait (before the policy
	// and the validator see them).
	void hold(std::vector<ReadResult> &results, const Policy &policy);
	// The images held back on what notes say is readable again (a layer, or a layer
	// tree): to be read at once rather than at their backoff.
	std::vector<std::string> woken(const std::vector<TroubleNote> &notes);

private:
	void holdHalves(std::vector<ReadResult> &results, const Policy &policy);
	void holdImages(std::vector<ReadResult> &results, const Policy &policy);

	// Images held back while their top layer cannot be read, by that layer.
	std::map<std::string, std::set<std::string>, std::less<>> heldOnLayer_;
};

} // namespace lw

// The local links that make an RO layer look like a local one (DESIGN.md section 3):
//   overlay/<id> -> RO/<id>, overlay-layers/<id> -> RO/<id>, overlay/l/<link> -> ../<id>/diff
// Created only if missing, atomically and relative; a correct link (relative, or an
// absolute one iSulad wrote that resolves to the same folder) is never replaced.
// An l/ link that leads elsewhere is replaced only if it is another RO layer's.
// Removed only when they point into RO/. Container RW layers are never touched.
#pragma once

#include <layerwatch/result.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lw::links {

// Makes the three links of a layer whose RO folders exist. EEXIST when a name is
// taken by something that is not a link (a container's RW layer under the same id),
// or l/<link> by a link that is not an RO layer's.
Result<void> create(int rootFd, std::string_view id, std::string_view link);

// Removes the layer's links that point into RO/; the short link first, so that a
// crash never leaves an l/ entry whose overlay/<id> is already gone.
Result<void> remove(int rootFd, std::string_view id, std::string_view link);
// The same where the short link is one of names (each removed only if it leads to
// ../<id>/diff), as removeStaleLinks deferred them: no listing of l/.
Result<void> remove(int rootFd, std::string_view id, const std::vector<std::string> &shortLinks);

// True when target (a link's content) names RO/<id>, relative or absolute.
bool pointsIntoRO(std::string_view target, std::string_view id);

// Start-up reconciliation: removes dangling local links into RO/ and nothing else.
// Returns how many links it removed.
Result<std::size_t> removeDangling(int rootFd);

// What the first load said of an RO layer.
struct LayerState {
	enum Kind { Unknown, Ready, NotReady } kind = Unknown; // NotReady: pending, proved so
	std::string link;                                      // Ready: its link
};

// After the first load, what a host that was down left behind: the links of an RO
// layer (overlay/<id> a link into RO/) that is pending, l/<name> -> ../<id>/diff when
// <id> is ready under another link (a layer made anew under its id), and temporary
// links of ours (".tmp-*") that a kill cut short. Layers in any other state (Unknown:
// not read, or trouble reading) keep their links, and are added to deferred (id -> its
// short link names): once ready, removeOtherShortLinks settles them; once proved not
// ready or gone, remove(rootFd, id, names) does.
// Returns how many links it removed.
// Links made at or after madeBeforeNs (wall clock) are left alone, as are the layers
// they name: this host's engine is making that layer now (build_ro_dir links first,
// then fills RO/<id> through them), not leaving it behind. So are temporaries made
// then: a link being made, about to be renamed into place.
Result<std::size_t> removeStaleLinks(int rootFd, const std::function<LayerState(const std::string &id)> &stateOf,
				     std::unordered_map<std::string, std::vector<std::string>> &deferred,
				     std::int64_t madeBeforeNs = INT64_MAX);

// Removes each l/<name> of names that still leads to ../<id>/diff, but link itself.
void removeOtherShortLinks(int rootFd, const std::string &id, const std::string &link,
			   const std::vector<std::string> &names);

} // namespace lw::links

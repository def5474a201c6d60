// The reader's vocabulary, typed: which tree, which kind of item, why a tree was
// rescanned. Each value has the name that `layerwatch watch --json` and the C API use
// for it (DESIGN.md section 6); in C++ they are compared as values, never as strings.
#pragma once

#include <layerwatch/export.h>

#include <array>
#include <cstddef>

namespace lw {

// The three shared trees, in the order writers fill them.
enum class TreeId {
	Overlay, // "overlay/RO": a layer's overlay folder (its link, lower, diff)
	Layers,  // "overlay-layers/RO": a layer's layer.json
	Images,  // "overlay-images": an image's folder
};
inline constexpr std::array<TreeId, 3> kTreeIds = {TreeId::Overlay, TreeId::Layers, TreeId::Images};

// What an item is: "overlay" (a layer whose overlay half alone is known), "layer",
// "image".
enum class ItemKind { Overlay, Layer, Image };

// Why a tree was rescanned (a `resync` event): "overflow", "watch_lost", "unmount",
// "short_read", "poll_error", "read_error", "stalled", "watch_limit", "no_inotify",
// "no_fanotify".
enum class ResyncReason {
	Overflow,   // the kernel's queue overflowed: events were lost
	WatchLost,  // the tree's watch went (deleted, moved away)
	Unmount,    // the tree's filesystem was unmounted
	ShortRead,  // a kernel record ran past what was read
	PollError,  // the loop reported an error on the kernel source's fd
	ReadError,  // reading the kernel source's fd failed
	Stalled,    // its server answers again after a stall
	WatchLimit, // watches ran out: rescanned every interval instead
	NoInotify,  // no inotify to be had: every tree rescanned every interval
	NoFanotify, // the same, where fanotify was asked for
};

LW_EXPORT const char *name(TreeId tree);
LW_EXPORT const char *name(ItemKind kind);
LW_EXPORT const char *name(ResyncReason reason);

// One value per tree, indexed by TreeId.
template <class T>
struct PerTree {
	std::array<T, 3> values{};
	T &operator[](TreeId tree) { return values[static_cast<std::size_t>(tree)]; }
	const T &operator[](TreeId tree) const { return values[static_cast<std::size_t>(tree)]; }
	bool operator==(const PerTree &) const = default;
};

} // namespace lw

// The engine's words for trees: the public TreeId and ItemKind
// (<layerwatch/vocabulary.h>), their names, and a layer's other half. What the kernel
// sources need of the validator's vocabulary, without the validator.
#pragma once

#include <layerwatch/vocabulary.h>

namespace lw {

using Tree = TreeId;

inline const char *treeName(Tree tree) { return name(tree); }         // "overlay/RO", ...

// The tree of a layer's other half (overlay/RO <-> overlay-layers/RO).
inline Tree otherHalf(Tree layerTree)
{
	return layerTree == Tree::Overlay ? Tree::Layers : Tree::Overlay;
}

} // namespace lw

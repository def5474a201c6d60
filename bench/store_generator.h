// The store generator: a store of N images written through the writing side, as a
// pulling host would, for scans, tests and benchmarks.
#pragma once

#include <layerwatch/result.h>

#include <string>

namespace lwbench {

enum class ChainShape {
	Own,    // every image on a chain of its own: IMAGES * depth layers
	Shared, // 3 layers as registries share them: 20 bases, 200 middles, a top per image
};

struct GeneratedStore {
	unsigned long images = 0, layers = 0;
};

// Deterministic ids (two runs make the same store). depth applies to ChainShape::Own.
lw::Result<GeneratedStore> generateStore(const std::string &root, unsigned long images, ChainShape shape,
					 unsigned long depth = 3);

// The id generateStore gives image i.
std::string generatedImageId(unsigned long i);

} // namespace lwbench

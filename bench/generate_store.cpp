// Store generator: writes a store of N images, each on its own chain of L layers,
// through the writing side (as a pulling host would), for scans and benchmarks.
// usage: generate_store ROOT IMAGES [LAYERS_PER_IMAGE]
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

// Deterministic ids, so two runs make the same store.
std::string idFor(unsigned long n, char kind)
{
	return fmt::format("{}{:063x}", kind, n);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		std::fprintf(stderr, "usage: generate_store ROOT IMAGES [LAYERS_PER_IMAGE]\n");
		return 2;
	}
	unsigned long images = std::strtoul(argv[2], nullptr, 10);
	unsigned long depth = argc == 4 ? std::strtoul(argv[3], nullptr, 10) : 3;
	if (images == 0 || depth == 0 || depth > 128) {
		std::fprintf(stderr, "generate_store: IMAGES must be > 0 and LAYERS_PER_IMAGE 1..128\n");
		return 2;
	}
	auto writer = lw::StoreWriter::open(argv[1], {.durable = false, .makeLinks = false});
	if (!writer) {
		std::fprintf(stderr, "generate_store: %s\n", writer.error().message.c_str());
		return 1;
	}
	for (unsigned long i = 0; i < images; ++i) {
		std::string parent;
		for (unsigned long level = 0; level < depth; ++level) {
			std::string id = idFor(i * depth + level, 'a');
			if (auto r = writer->addLayer({.id = id, .parent = parent}); !r) {
				std::fprintf(stderr, "generate_store: %s\n", r.error().message.c_str());
				return 1;
			}
			parent = id;
		}
		auto image = writer->publishImage({.id = idFor(i, 'b'), .topLayer = parent,
						   .names = {fmt::format("generated/app{}:latest", i)}});
		if (!image) {
			std::fprintf(stderr, "generate_store: %s\n", image.error().message.c_str());
			return 1;
		}
	}
	return 0;
}

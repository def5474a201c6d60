// Store generator, from the command line.
// usage: generate_store ROOT IMAGES [LAYERS_PER_IMAGE | shared]
#include "store_generator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		std::fprintf(stderr, "usage: generate_store ROOT IMAGES [LAYERS_PER_IMAGE | shared]\n");
		return 2;
	}
	unsigned long images = std::strtoul(argv[2], nullptr, 10);
	bool shared = argc == 4 && std::strcmp(argv[3], "shared") == 0;
	unsigned long depth = argc == 4 && !shared ? std::strtoul(argv[3], nullptr, 10) : 3;
	if (images == 0 || depth == 0 || depth > 128) {
		std::fprintf(stderr, "generate_store: IMAGES must be > 0 and LAYERS_PER_IMAGE 1..128\n");
		return 2;
	}
	auto made = lwbench::generateStore(argv[1], images,
					   shared ? lwbench::ChainShape::Shared : lwbench::ChainShape::Own, depth);
	if (!made) {
		std::fprintf(stderr, "generate_store: %s\n", made.error().message.c_str());
		return 1;
	}
	std::printf("%lu images, %lu layers\n", made->images, made->layers);
	return 0;
}

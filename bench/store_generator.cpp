// The store generator.
#include "store_generator.h"

#include <layerwatch/writer.h>

#include <fmt/format.h>

namespace lwbench {

namespace {

std::string idFor(unsigned long n, char kind)
{
	return fmt::format("{}{:063x}", kind, n);
}

constexpr unsigned long kBases = 20, kMiddles = 200;

} // namespace

std::string generatedImageId(unsigned long i)
{
	return idFor(i, 'b');
}

lw::Result<GeneratedStore> generateStore(const std::string &root, unsigned long images, ChainShape shape,
					 unsigned long depth)
{
	auto writer = lw::StoreWriter::open(root, {.durable = false, .makeLinks = false});
	if (!writer)
		return writer.error();
	GeneratedStore made;
	auto layer = [&](const std::string &id, const std::string &parent) -> lw::Result<void> {
		++made.layers;
		return writer->addLayer({.id = id, .parent = parent});
	};
	if (shape == ChainShape::Shared) {
		for (unsigned long b = 0; b < kBases; ++b)
			if (auto r = layer(idFor(b, 'd'), ""); !r)
				return r.error();
		for (unsigned long m = 0; m < kMiddles; ++m)
			if (auto r = layer(idFor(m, 'e'), idFor(m % kBases, 'd')); !r)
				return r.error();
	}
	for (unsigned long i = 0; i < images; ++i) {
		std::string top;
		if (shape == ChainShape::Shared) {
			top = idFor(i, 'a');
			if (auto r = layer(top, idFor(i % kMiddles, 'e')); !r)
				return r.error();
		} else {
			for (unsigned long level = 0; level < depth; ++level) {
				std::string id = idFor(i * depth + level, 'a');
				if (auto r = layer(id, top); !r)
					return r.error();
				top = id;
			}
		}
		auto image = writer->publishImage({.id = generatedImageId(i), .topLayer = top,
						   .names = {fmt::format("generated/app{}:latest", i)}});
		if (!image)
			return image.error();
		++made.images;
	}
	return made;
}

} // namespace lwbench

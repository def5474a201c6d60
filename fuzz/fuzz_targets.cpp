// Fuzz targets for every parser of untrusted input. One file, one target chosen at
// compile time (LW_FUZZ_TARGET), so that each binary fuzzes one parser. Each target
// also checks what it can: a parser must never accept what it then cannot use.
#include "fanotify_source.h"
#include "fs_classify.h"
#include "inotify_source.h"

#include <layerwatch/model.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

std::string_view asText(const std::uint8_t *data, std::size_t size)
{
	return {reinterpret_cast<const char *>(data), size};
}

// A parser's accepted record must survive its own writer and parse back the same,
// and nothing larger than the cap on metadata files is ever accepted.
template <class Parse>
auto roundTrip(std::string_view text, Parse parse)
{
	auto parsed = parse(text);
	if (!parsed)
		return parsed;
	if (text.size() > lw::kMaxJsonBytes)
		std::abort();
	auto again = parse(lw::toJson(*parsed));
	if (!again || !(*again == *parsed))
		std::abort();
	return parsed;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view text = asText(data, size);
	std::string_view target = LW_FUZZ_TARGET;
	if (target == "layer_json") {
		(void)roundTrip(text, lw::parseLayerJson);
	} else if (target == "image_json") {
		(void)roundTrip(text, lw::parseImageJson);
	} else if (target == "manifest") {
		// Digests are checked by the validator, not the parser; what the parser
		// promises is a supported kind and one digest per layer, kept exactly.
		if (auto m = roundTrip(text, lw::parseManifest); m && m->kind == lw::ManifestKind::DockerSchema2 &&
							       !m->mediaType.empty() &&
							       m->mediaType != "application/vnd.docker.distribution.manifest.v2+json")
			std::abort();
	} else if (target == "link_lower") {
		if (auto link = lw::parseLinkFile(text); link && !lw::isValidLinkName(*link))
			std::abort();
		if (auto lower = lw::parseLowerFile(text)) {
			if (lower->size() > lw::kMaxLowerEntries)
				std::abort();
			if (!lw::parseLowerFile(lw::formatLowerFile(*lower)))
				std::abort();
		}
		(void)lw::bigDataFileName(text);
	} else if (target == "inotify") {
		std::size_t seen = 0;
		(void)lw::parseInotifyRecords(text.data(), text.size(), [&](const lw::InotifyRecord &r) {
			seen += sizeof(int) + r.name.size();
			if (r.name.data() < text.data() || r.name.data() + r.name.size() > text.data() + text.size())
				std::abort(); // a name outside the buffer
		});
		(void)seen;
	} else if (target == "fanotify") {
		auto inside = [&](std::string_view part) {
			if (!part.empty() && (part.data() < text.data() || part.data() + part.size() > text.data() + text.size()))
				std::abort(); // a key or a name outside the buffer
		};
		(void)lw::parseFanotifyRecords(text.data(), text.size(), [&](const lw::FanotifyRecord &r) {
			inside(r.folder);
			inside(r.name);
			if (r.name.find('\0') != std::string_view::npos)
				std::abort();
		});
	} else if (target == "mountinfo") {
		(void)lw::fsTypeFromMountinfo(text, "/var/lib/isulad/storage/overlay/RO");
	}
	return 0;
}

// Packed records give back exactly what went in, whatever the strings: ids and
// digests (kept as 32 bytes) and everything that only looks like one (kept as it is).
#include "test_support.h"
#include "packed_record.h"
#include "utc_time.h"

using namespace lw;

namespace {

const std::string kA(64, 'a'), kB = std::string(63, '0') + "b";

LayerInfo sampleLayer()
{
	return LayerInfo{.id = kA,
			 .parent = kB,
			 .link = "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
			 .names = {"one", "sha256:" + kB, std::string(300, 'n')},
			 .diffDigest = "sha256:" + kA,
			 .compressedDiffDigest = "sha512:" + kA,
			 .diffSize = -5,
			 .created = "2023-05-06T07:08:09.123456789Z"};
}

} // namespace

TEST_CASE("a packed layer unpacks to what was packed")
{
	LayerInfo layer = sampleLayer();
	PackedLayer packed(layer);
	REQUIRE(packed);
	CHECK(*packed.unpack(layer.link) == layer);
	CHECK(packed.key() == Id::parse(kA));
	CHECK(packed.id() == kA);
	CHECK(packed.parent() == kB);
	CHECK(packed.parentKey() == Id::parse(kB));
	CHECK(packed.diffDigest() == layer.diffDigest);
	CHECK(packed.compressedDiffDigest() == layer.compressedDiffDigest);

	// Strings that only look like ids or digests, empty ones, no size.
	LayerInfo odd{.id = std::string(64, 'A'),
		      .parent = "",
		      .names = {"", "sha256:" + std::string(63, 'a'), "sha256:" + std::string(64, 'G')},
		      .diffDigest = "sha256:",
		      .compressedDiffDigest = kA + "0"};
	PackedLayer oddPacked(odd);
	CHECK(*oddPacked.unpack("") == odd);
	CHECK_FALSE(oddPacked.key());      // upper-case hex is no id
	CHECK_FALSE(oddPacked.parentKey()); // none
	CHECK(oddPacked.id() == odd.id);
}

TEST_CASE("equal layers pack to equal blocks, whatever their link (held apart)")
{
	LayerInfo layer = sampleLayer();
	PackedLayer a(layer), b(layer);
	CHECK(a == b);
	LayerInfo renamed = layer;
	renamed.names.push_back("two");
	CHECK_FALSE(a == PackedLayer(renamed));
	LayerInfo relinked = layer;
	relinked.link = "ZYXWVUTSRQPONMLKJIHGFEDCBA";
	CHECK(a == PackedLayer(relinked));
	CHECK(a.unpack(relinked.link)->link == relinked.link);
	CHECK_FALSE(a == PackedLayer());
	CHECK(PackedLayer() == PackedLayer());
	CHECK_FALSE(PackedLayer().unpack("x"));
}

TEST_CASE("a packed image unpacks to what was packed")
{
	ImageInfo image{.id = kB,
			.names = {"registry.example/app:1", "app@sha256:" + kA},
			.topLayer = kA,
			.digest = "sha256:" + kB,
			.created = "",
			.bigDataNames = {"manifest", "sha256:" + kA, std::string(200, 'x')}};
	PackedImage packed(image);
	CHECK(*packed.unpack() == image);
	CHECK(packed.key() == Id::parse(kB));
	CHECK(packed.id() == kB);
	CHECK(packed.topLayer() == kA);
	CHECK(packed.topLayerKey() == Id::parse(kA));
	CHECK(packed.digest() == image.digest);
	CHECK(packed.names() == image.names);
	CHECK(packed == PackedImage(image));
	ImageInfo tagged = image;
	tagged.names.push_back("app:2");
	CHECK_FALSE(packed == PackedImage(tagged));

	ImageInfo bad{.id = "not-an-id", .topLayer = "x"};
	PackedImage badPacked(bad);
	CHECK(*badPacked.unpack() == bad);
	CHECK_FALSE(badPacked.key());
	CHECK_FALSE(badPacked.topLayerKey());
	CHECK_FALSE(PackedImage().unpack());
}

TEST_CASE("a record's time is held as numbers only when its text comes back the same")
{
	// Go's RFC 3339 (iSulad's): the fraction's trailing zeros dropped, or none at all.
	for (std::string text : {"2023-05-06T07:08:09.123456789Z", "2026-11-30T21:40:24.18764Z", "2026-11-30T21:40:24Z",
				 "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.5Z", "0001-01-01T00:00:00Z",
				 "9999-12-31T23:59:59.999999999Z", "2024-02-29T12:00:00.10Z"}) {
		INFO(text);
		auto time = parseUtc(text);
		REQUIRE(time);
		CHECK(formatUtc(*time) == text);
	}
	CHECK(parseUtc("1970-01-01T00:00:01.5Z")->seconds == 1);
	CHECK(parseUtc("1969-12-31T23:59:59.5Z")->seconds == -1);
	CHECK(parseUtc("1969-12-31T23:59:59.5Z")->nanos == 500000000);
	// Anything else stays text: an offset, a leap second, a day that is none, a
	// lower-case separator, ten digits, an empty fraction, a sign, spaces.
	for (std::string text : {"2023-05-06T07:08:09+08:00", "2016-12-31T23:59:60Z", "2023-02-29T00:00:00Z",
				 "2023-05-06t07:08:09Z", "2023-05-06T07:08:09.1234567890Z", "2023-05-06T07:08:09.Z",
				 "+023-05-06T07:08:09Z", "2023-05-06T07:08:09 Z", "", "Z", "2023-05-06 07:08:09Z",
				 "2023-13-06T07:08:09Z", "2023-05-06T24:08:09Z"}) {
		INFO(text);
		CHECK_FALSE(parseUtc(text));
	}
}

TEST_CASE("times and an image's own digest pack small and unpack exactly")
{
	for (std::string created : {"2023-05-06T07:08:09.123456789Z", "2023-05-06T07:08:09+08:00", "2016-12-31T23:59:60Z",
				    "2023-05-06T07:08:09.100Z", ""}) {
		INFO(created);
		LayerInfo layer = sampleLayer();
		layer.created = created;
		CHECK(*PackedLayer(layer).unpack(layer.link) == layer);
		// Its config, named by the image's id, among its big data; and another digest.
		ImageInfo image{.id = kB,
				.topLayer = kA,
				.digest = "sha256:" + kA,
				.created = created,
				.bigDataNames = {"sha256:" + kB, "manifest", "sha256:" + kA, "sha512:" + kB}};
		PackedImage packed(image);
		CHECK(*packed.unpack() == image);
		CHECK(packed.names() == image.names);
		CHECK(packed.digest() == image.digest);
	}
	// What it saves: the time's 30 characters are 13 bytes, the config's name 1 byte.
	ImageInfo asText{.id = kB, .topLayer = kA, .created = "2023-05-06T07:08:09+08:00", .bigDataNames = {"sha256:" + kA}};
	ImageInfo compact{.id = kB, .topLayer = kA, .created = "2023-05-06T07:08:09.123456Z", .bigDataNames = {"sha256:" + kB}};
	auto blockSize = [](const ImageInfo &info) { return PackedImage(info).blockSize(); };
	CHECK(blockSize(compact) + 12 + 32 <= blockSize(asText));
	// An id that is none: its digests are digests.
	ImageInfo noId{.id = "not-an-id", .bigDataNames = {"sha256:" + kB}};
	CHECK(*PackedImage(noId).unpack() == noId);
}

// Packed records give back exactly what went in, whatever the strings: ids and
// digests (kept as 32 bytes) and everything that only looks like one (kept as it is).
#include "test_support.h"
#include "packed_record.h"

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

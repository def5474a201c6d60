// The storage model against real iSulad files and against hostile input.
#include "test_support.h"

#include <layerwatch/model.h>

#include <dirent.h>

using namespace lw;
using lw::test::fixturesDir;
using lw::test::readFile;

namespace {

std::vector<std::string> listNames(const std::string &dir)
{
	std::vector<std::string> names;
	if (DIR *d = ::opendir(dir.c_str())) {
		while (auto *e = ::readdir(d))
			if (e->d_name[0] != '.')
				names.emplace_back(e->d_name);
		::closedir(d);
	}
	return names;
}

void checkFails(const Error &e, const std::string &mustContain)
{
	INFO(e.message);
	CHECK(e.message.find(mustContain) != std::string::npos);
}

} // namespace

TEST_CASE("ids")
{
	CHECK(isValidId(std::string(64, 'a')));
	CHECK(isValidId("9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63"));
	CHECK_FALSE(isValidId(std::string(63, 'a')));
	CHECK_FALSE(isValidId(std::string(65, 'a')));
	CHECK_FALSE(isValidId(std::string(64, 'A')));
	CHECK_FALSE(isValidId("../" + std::string(61, 'a')));
	CHECK_FALSE(isValidId(std::string(63, 'a') + "g"));
	CHECK_FALSE(isValidId("RO"));
	CHECK_FALSE(isValidId(""));
	CHECK_FALSE(isValidId(std::string(63, 'a') + '\0'));
}

TEST_CASE("big-data file names follow iSulad's rule")
{
	CHECK(bigDataFileName("manifest") == "manifest");
	CHECK(bigDataFileName("a.b.0") == "a.b.0");
	CHECK(bigDataFileName("Manifest") == "=TWFuaWZlc3Q=");
	CHECK(bigDataFileName("..") == "=Li4=");
	CHECK(bigDataFileName("a/b") == "=YS9i");
	CHECK(base64Encode("") == "");
	CHECK(base64Encode("f") == "Zg==");
	CHECK(base64Encode("fo") == "Zm8=");
	CHECK(base64Encode("foo") == "Zm9v");
	// Every config file in the fixtures is named by the rule from its key.
	for (auto sub : {"overlay-images", "resources"}) {
		std::string base = fixturesDir() + "/images/data/" + sub;
		for (const auto &id : listNames(base)) {
			auto image = parseImageJson(readFile(base + "/" + id + "/images.json"));
			REQUIRE(image.ok());
			for (const auto &key : image->bigDataNames) {
				if (key == "manifest")
					continue;
				INFO(key);
				CHECK(lw::test::exists(base + "/" + id + "/" + bigDataFileName(key)));
			}
		}
	}
}

TEST_CASE("every fixture file parses")
{
	std::string layers = fixturesDir() + "/layers/data/overlay-layers";
	int layerCount = 0;
	for (const auto &id : listNames(layers)) {
		auto layer = parseLayerJson(readFile(layers + "/" + id + "/layer.json"));
		REQUIRE_MESSAGE(layer.ok(), layer.error().message);
		CHECK(layer->id == id);
		++layerCount;
	}
	CHECK(layerCount == 2);
	auto child = parseLayerJson(readFile(layers + "/7db8f44a0a8e12ea4283e3180e98880007efbd5de2e7c98b67de9cdd4dfffb0b/layer.json"));
	CHECK(child->parent == "9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63");
	auto base = parseLayerJson(readFile(layers + "/9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63/layer.json"));
	CHECK(base->names == std::vector<std::string>{"hello_world:latest"});
	CHECK(base->diffSize == 1672256);

	std::string overlay = fixturesDir() + "/layers/data/overlay";
	for (const auto &id : listNames(overlay)) {
		if (id == "l")
			continue;
		auto link = parseLinkFile(readFile(overlay + "/" + id + "/link"));
		REQUIRE_MESSAGE(link.ok(), link.error().message);
		// The fixtures' l/ entries hold the target text of the real symlinks.
		CHECK(readFile(overlay + "/l/" + *link) == "../" + id + "/diff");
	}
	auto lower = parseLowerFile(readFile(overlay + "/1be74353c3d0fd55fb5638a52953e6f1bc441e5b1710921db9ec2aa202725569/lower"));
	REQUIRE(lower.ok());
	CHECK(*lower == std::vector<std::string>{"c3343428f60aab9c86d24293f6"});

	int images = 0, schema1 = 0;
	for (auto sub : {"overlay-images", "resources", "v1_images"}) {
		std::string dir = fixturesDir() + "/images/data/" + sub;
		for (const auto &id : listNames(dir)) {
			auto image = parseImageJson(readFile(dir + "/" + id + "/images.json"));
			REQUIRE_MESSAGE(image.ok(), image.error().message);
			CHECK(image->id == id);
			CHECK(isValidId(image->layer));
			CHECK_FALSE(image->names.empty());
			CHECK_FALSE(image->loaded.empty()); // "loaded" or the older "Loaded"
			auto manifest = parseManifest(readFile(dir + "/" + id + "/manifest"));
			if (std::string(sub) == "v1_images") {
				REQUIRE_FALSE(manifest.ok());
				CHECK(manifest.error().message == "manifest: schema 1 unsupported");
				++schema1;
			} else {
				REQUIRE_MESSAGE(manifest.ok(), manifest.error().message);
				CHECK(manifest->kind == ManifestKind::DockerSchema2);
				CHECK(manifest->configDigest == "sha256:" + id);
				CHECK_FALSE(manifest->layerDigests.empty());
			}
			++images;
		}
	}
	CHECK(images == 4);
	CHECK(schema1 == 1);
}

TEST_CASE("link and lower files")
{
	CHECK(parseLinkFile("c3343428f60aab9c86d24293f6").ok());
	CHECK(parseLinkFile("c3343428f60aab9c86d24293f6\n").ok());
	checkFails(parseLinkFile("c3343428f60aab9c86d24293f").error(), "link:");
	checkFails(parseLinkFile("c3343428f60aab9c86/24293f6").error(), "link:");
	checkFails(parseLinkFile("C3343428F60AAB9C86D24293F6").error(), "link:");
	checkFails(parseLinkFile("").error(), "link:");

	std::string one = "l/" + std::string(26, 'a');
	std::string lower128, lower129;
	for (int i = 0; i < 129; ++i) {
		(i ? lower129 += ":" : lower129) += one;
		if (i < 128)
			(i ? lower128 += ":" : lower128) += one;
	}
	REQUIRE(parseLowerFile(lower128).ok());
	CHECK(parseLowerFile(lower128)->size() == 128);
	checkFails(parseLowerFile(lower129).error(), "more than 128 entries");
	checkFails(parseLowerFile(one + ":").error(), "lower: entry");
	checkFails(parseLowerFile("l/../../etc").error(), "lower: entry");
	checkFails(parseLowerFile(std::string(26, 'a')).error(), "lower: entry");
	checkFails(parseLowerFile("").error(), "lower: empty");
	CHECK(formatLowerFile({"a", "b"}) == "l/a:l/b");
}

TEST_CASE("hostile JSON is rejected with the file and the field named")
{
	SUBCASE("truncated")
	{
		auto text = readFile(fixturesDir() + "/layers/data/overlay-layers/9c27e219663c25e0f28493790cc0b88bc973ba3b1686355f221c38a36978ac63/layer.json");
		checkFails(parseLayerJson(text.substr(0, text.size() / 2)).error(), "layer.json: invalid JSON at offset");
		checkFails(parseImageJson("{\"id\":").error(), "images.json: invalid JSON");
		checkFails(parseManifest("").error(), "manifest: invalid JSON");
	}
	SUBCASE("wrong types")
	{
		std::string id = "\"" + std::string(64, 'a') + "\"";
		checkFails(parseLayerJson("{\"id\":1}").error(), "layer.json: field \"id\": expected a string");
		checkFails(parseLayerJson("{\"id\":" + id + ",\"parent\":[]}").error(), "field \"parent\": expected a string");
		checkFails(parseLayerJson("{\"id\":" + id + ",\"writable\":\"no\"}").error(), "field \"writable\": expected true or false");
		checkFails(parseLayerJson("{\"id\":" + id + ",\"incompelte\":1}").error(), "field \"incompelte\"");
		checkFails(parseLayerJson("{\"id\":" + id + ",\"diff-size\":1.5}").error(), "field \"diff-size\"");
		checkFails(parseLayerJson("{\"id\":" + id + ",\"names\":[\"a\",2]}").error(), "field \"names[1]\": expected a string");
		checkFails(parseLayerJson("{}").error(), "layer.json: field \"id\": missing");
		checkFails(parseImageJson("{\"id\":" + id + ",\"layer\":{}}").error(), "images.json: field \"layer\": expected a string");
		checkFails(parseImageJson("{\"id\":" + id + ",\"big-data-names\":\"manifest\"}").error(), "field \"big-data-names\"");
		checkFails(parseImageJson("{\"id\":" + id + ",\"big-data-sizes\":{\"manifest\":\"1\"}}").error(), "field \"big-data-sizes.manifest\"");
		checkFails(parseImageJson("[]").error(), "images.json: expected a JSON object");
		checkFails(parseManifest("{\"schemaVersion\":\"2\"}").error(), "manifest: field \"schemaVersion\"");
		checkFails(parseManifest("{\"schemaVersion\":2,\"config\":{\"digest\":5},\"layers\":[]}").error(), "field \"config.digest\": expected a string");
		checkFails(parseManifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"x\"},\"layers\":[{}]}").error(), "field \"layers[0].digest\": missing");
		checkFails(parseManifest("{\"schemaVersion\":2,\"config\":{\"digest\":\"x\"}}").error(), "field \"layers\": missing");
	}
	SUBCASE("a field twice")
	{
		std::string id = "\"" + std::string(64, 'a') + "\"";
		checkFails(parseLayerJson("{\"id\":" + id + ",\"id\":" + id + "}").error(), "a field appears twice");
	}
	SUBCASE("2 MiB")
	{
		std::string big = "{\"id\":\"" + std::string(2 << 20, 'a') + "\"}";
		auto r = parseImageJson(big);
		REQUIRE_FALSE(r.ok());
		CHECK(r.error().code == EFBIG);
		checkFails(r.error(), "images.json: larger than 1048576 bytes");
	}
	SUBCASE("100 000 nested brackets do not exhaust the stack")
	{
		std::string deep = "{\"id\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
		checkFails(parseLayerJson(deep).error(), "field \"id\": expected a string");
		std::string unclosed(100000, '[');
		checkFails(parseManifest(unclosed).error(), "manifest: invalid JSON");
		std::string objects;
		for (int i = 0; i < 100000; ++i)
			objects += "{\"a\":";
		checkFails(parseImageJson(objects).error(), "images.json: invalid JSON");
	}
	SUBCASE("invalid UTF-8 and NUL bytes")
	{
		checkFails(parseLayerJson("{\"id\":\"\xff\xfe\"}").error(), "layer.json: invalid JSON");
		checkFails(parseLayerJson(std::string("{\"id\":\"a\"}\0garbage", 18)).error(), "layer.json: invalid JSON");
	}
	SUBCASE("unsupported manifests")
	{
		checkFails(parseManifest("{\"schemaVersion\":1}").error(), "manifest: schema 1 unsupported");
		checkFails(parseManifest("{\"schemaVersion\":3}").error(), "schemaVersion 3 unsupported");
		checkFails(parseManifest("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}").error(), "list or index unsupported");
		checkFails(parseManifest("{\"schemaVersion\":2,\"manifests\":[]}").error(), "list or index unsupported");
		checkFails(parseManifest("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}").error(), "unsupported");
	}
}

TEST_CASE("records survive a round trip through their JSON")
{
	LayerRecord layer;
	layer.id = std::string(64, 'b');
	layer.parent = std::string(64, 'c');
	layer.names = {"x:1"};
	layer.diffDigest = "sha256:" + std::string(64, 'd');
	layer.diffSize = 42;
	layer.compression = 2;
	layer.incomplete = true;
	auto back = parseLayerJson(toJson(layer));
	REQUIRE(back.ok());
	CHECK(*back == layer);
	CHECK(toJson(layer).find("\"incompelte\":true") != std::string::npos);
	CHECK(parseLayerJson("{\"id\":\"x\",\"incomplete\":true}")->incomplete);

	ImageRecord image;
	image.id = std::string(64, 'e');
	image.names = {"busybox:latest", "busybox:1"};
	image.layer = layer.id;
	image.bigDataNames = {"manifest"};
	image.bigDataSizes = {{"manifest", 10}};
	image.bigDataDigests = {{"manifest", "sha256:f"}};
	image.size = 7;
	auto imageBack = parseImageJson(toJson(image));
	REQUIRE(imageBack.ok());
	CHECK(*imageBack == image);

	for (auto kind : {ManifestKind::DockerSchema2, ManifestKind::Oci}) {
		Manifest m;
		m.kind = kind;
		m.mediaType = kind == ManifestKind::Oci ? "application/vnd.oci.image.manifest.v1+json"
							: "application/vnd.docker.distribution.manifest.v2+json";
		m.configDigest = "sha256:" + std::string(64, '1');
		m.layerDigests = {"sha256:" + std::string(64, '2')};
		auto mBack = parseManifest(toJson(m));
		REQUIRE(mBack.ok());
		CHECK(*mBack == m);
	}
}

// Typed parsing and writing of layer.json, images.json and image manifests.
#include "json_reader.h"

#include <layerwatch/model.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>

namespace lw {

namespace {

constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void put(JsonWriter &w, const char *key, std::string_view value)
{
	w.Key(key);
	w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void putIfSet(JsonWriter &w, const char *key, std::string_view value)
{
	if (!value.empty())
		put(w, key, value);
}

void putList(JsonWriter &w, const char *key, const std::vector<std::string> &values)
{
	w.Key(key);
	w.StartArray();
	for (const auto &v : values)
		w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
	w.EndArray();
}

std::string finish(rapidjson::StringBuffer &buffer)
{
	return std::string(buffer.GetString(), buffer.GetSize());
}

} // namespace

Result<LayerRecord> parseLayerJson(std::string_view text)
{
	constexpr std::string_view kFile = "layer.json";
	auto doc = parseJsonObject(kFile, text);
	if (!doc)
		return doc.error();
	LayerRecord r;
	FieldReader f(kFile, *doc);
	f.string("id", r.id, true);
	f.strings("names", r.names);
	f.string("parent", r.parent);
	f.string("metadata", r.metadata);
	f.string("mountlabel", r.mountLabel);
	f.string("created", r.created);
	f.string("compressed-diff-digest", r.compressedDiffDigest);
	f.int64("compressed-size", r.compressedSize);
	f.string("diff-digest", r.diffDigest);
	f.int64("diff-size", r.diffSize);
	f.uint32("compression", r.compression);
	f.boolean("incompelte", r.incomplete);
	if (!r.incomplete)
		f.boolean("incomplete", r.incomplete);
	f.boolean("writable", r.writable);
	if (f.failed())
		return f.error();
	return r;
}

Result<ImageRecord> parseImageJson(std::string_view text)
{
	constexpr std::string_view kFile = "images.json";
	auto doc = parseJsonObject(kFile, text);
	if (!doc)
		return doc.error();
	ImageRecord r;
	FieldReader f(kFile, *doc);
	f.string("id", r.id, true);
	f.string("digest", r.digest);
	f.strings("names", r.names);
	f.string("layer", r.layer);
	f.strings("mapped-layers", r.mappedLayers);
	f.string("metadata", r.metadata);
	f.strings("big-data-names", r.bigDataNames);
	f.int64Map("big-data-sizes", r.bigDataSizes);
	f.stringMap("big-data-digests", r.bigDataDigests);
	f.string("created", r.created);
	f.string("loaded", r.loaded);
	if (r.loaded.empty())
		f.string("Loaded", r.loaded);
	f.uint64("size", r.size);
	if (f.failed())
		return f.error();
	return r;
}

Result<Manifest> parseManifest(std::string_view text)
{
	constexpr std::string_view kFile = "manifest";
	auto doc = parseJsonObject(kFile, text);
	if (!doc)
		return doc.error();
	FieldReader f(kFile, *doc);
	auto version = f.integer("schemaVersion", true);
	Manifest m;
	f.string("mediaType", m.mediaType);
	if (f.failed())
		return f.error();
	if (*version == 1)
		return makeError(ENOTSUP, "manifest: schema 1 unsupported");
	if (*version != 2)
		return makeError(ENOTSUP, fmt::format("manifest: schemaVersion {} unsupported", *version));
	if (m.mediaType == kDockerList || m.mediaType == kOciIndex ||
	    (m.mediaType.empty() && f.has("manifests")))
		return makeError(ENOTSUP, "manifest: manifest list or index unsupported");
	if (m.mediaType == kDockerManifest)
		m.kind = ManifestKind::DockerSchema2;
	else if (m.mediaType == kOciManifest || m.mediaType.empty())
		m.kind = ManifestKind::Oci; // OCI lets mediaType be left out
	else
		return makeError(ENOTSUP, fmt::format("manifest: field \"mediaType\": {} unsupported",
						      m.mediaType.substr(0, 80)));

	if (const auto *config = f.object("config", true)) {
		FieldReader c(kFile, *config, "config.");
		c.string("digest", m.configDigest, true);
		if (c.failed())
			return c.error();
	}
	if (const auto *layers = f.array("layers", true)) {
		for (const auto &layer : layers->GetArray()) {
			auto prefix = fmt::format("layers[{}]", m.layerDigests.size());
			if (!layer.IsObject())
				return makeError(EINVAL, fmt::format("manifest: field \"{}\": expected an object", prefix));
			FieldReader l(kFile, layer, prefix + ".");
			l.string("digest", m.layerDigests.emplace_back(), true);
			if (l.failed())
				return l.error();
		}
	}
	if (f.failed())
		return f.error();
	return m;
}

std::string toJson(const LayerRecord &r)
{
	rapidjson::StringBuffer buffer;
	JsonWriter w(buffer);
	w.StartObject();
	put(w, "id", r.id);
	if (!r.names.empty())
		putList(w, "names", r.names);
	putIfSet(w, "parent", r.parent);
	putIfSet(w, "metadata", r.metadata);
	putIfSet(w, "mountlabel", r.mountLabel);
	putIfSet(w, "created", r.created);
	putIfSet(w, "compressed-diff-digest", r.compressedDiffDigest);
	if (r.compressedSize) {
		w.Key("compressed-size");
		w.Int64(*r.compressedSize);
	}
	putIfSet(w, "diff-digest", r.diffDigest);
	if (r.diffSize) {
		w.Key("diff-size");
		w.Int64(*r.diffSize);
	}
	if (r.compression) {
		w.Key("compression");
		w.Uint(*r.compression);
	}
	if (r.incomplete) {
		w.Key("incompelte"); // iSulad's spelling, so that iSulad reads it back
		w.Bool(true);
	}
	if (r.writable) {
		w.Key("writable");
		w.Bool(true);
	}
	w.EndObject();
	return finish(buffer);
}

std::string toJson(const ImageRecord &r)
{
	rapidjson::StringBuffer buffer;
	JsonWriter w(buffer);
	w.StartObject();
	put(w, "id", r.id);
	putIfSet(w, "digest", r.digest);
	if (!r.names.empty())
		putList(w, "names", r.names);
	putIfSet(w, "layer", r.layer);
	if (!r.mappedLayers.empty())
		putList(w, "mapped-layers", r.mappedLayers);
	putIfSet(w, "metadata", r.metadata);
	if (!r.bigDataNames.empty())
		putList(w, "big-data-names", r.bigDataNames);
	if (!r.bigDataSizes.empty()) {
		w.Key("big-data-sizes");
		w.StartObject();
		for (const auto &[key, size] : r.bigDataSizes) {
			w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
			w.Int64(size);
		}
		w.EndObject();
	}
	if (!r.bigDataDigests.empty()) {
		w.Key("big-data-digests");
		w.StartObject();
		for (const auto &[key, digest] : r.bigDataDigests)
			put(w, key.c_str(), digest);
		w.EndObject();
	}
	putIfSet(w, "created", r.created);
	putIfSet(w, "loaded", r.loaded);
	if (r.size) {
		w.Key("size");
		w.Uint64(*r.size);
	}
	w.EndObject();
	return finish(buffer);
}

std::string toJson(const Manifest &m)
{
	rapidjson::StringBuffer buffer;
	JsonWriter w(buffer);
	w.StartObject();
	w.Key("schemaVersion");
	w.Int(2);
	put(w, "mediaType", m.mediaType.empty() && m.kind == ManifestKind::DockerSchema2
				    ? kDockerManifest : std::string_view(m.mediaType));
	w.Key("config");
	w.StartObject();
	put(w, "mediaType", m.kind == ManifestKind::Oci ? "application/vnd.oci.image.config.v1+json"
							: "application/vnd.docker.container.image.v1+json");
	put(w, "digest", m.configDigest);
	w.EndObject();
	w.Key("layers");
	w.StartArray();
	for (const auto &digest : m.layerDigests) {
		w.StartObject();
		put(w, "mediaType", m.kind == ManifestKind::Oci ? "application/vnd.oci.image.layer.v1.tar+gzip"
								: "application/vnd.docker.image.rootfs.diff.tar.gzip");
		put(w, "digest", digest);
		w.EndObject();
	}
	w.EndArray();
	w.EndObject();
	return finish(buffer);
}

} // namespace lw

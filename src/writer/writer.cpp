// The writing side: build RO layers in temporary folders, rename them into place,
// publish images with the manifest last, and remove in the safe order.
#include <layerwatch/writer.h>

#include "fs_write.h"
#include "local_links.h"
#include "random_name.h"
#include "safe_fs.h"
#include "sys.h"

#include <layerwatch/paths.h>

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace lw {

namespace {

// A gzip stream of nothing: what tar-split holds for a layer we know nothing about.
constexpr unsigned char kEmptyGzip[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
					0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

// A minimal image config for a spec without one; it names the top layer, so that two
// images on different layers never get the same id.
std::string defaultConfig(const ImageSpec &spec)
{
	return fmt::format(R"({{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}})",
			   spec.topLayer);
}

Error errnoError(int err, std::string_view what)
{
	return makeError(err, fmt::format("{}: {}", what, fs::describeErrno(err)));
}

// Prefixes an error's message with the folder it happened in.
Result<void> withPath(Result<void> r, std::string_view folder)
{
	if (r)
		return r;
	return makeError(r.error().code, fmt::format("{}/{}", folder, r.error().message));
}

Result<void> checkId(std::string_view what, std::string_view id)
{
	if (!isValidId(id))
		return makeError(EINVAL, fmt::format("{} {}: not 64 lowercase hex characters",
						     what, id.substr(0, 80)));
	return {};
}

// Creates a temporary folder in parentFd, lets fill populate it, and renames it to
// name (refusing to replace anything). On any failure the temporary folder goes.
Result<void> buildAndRename(int parentFd, std::string_view name, bool durable,
			    const std::function<Result<void>(int dirFd)> &fill)
{
	std::string tmp = temporaryName("tmp", name);
	if (int r = sys::mkdirAt(parentFd, tmp.c_str(), 0755); r < 0)
		return errnoError(-r, tmp);
	auto fail = [&](Error e) {
		(void)fs::removeTree(parentFd, tmp);
		return e;
	};
	auto dir = fs::openDir(parentFd, tmp);
	if (!dir)
		return fail(dir.error());
	if (auto r = fill(dir->get()); !r)
		return fail(r.error());
	if (durable)
		if (int r = sys::fsync(dir->get()); r < 0)
			return fail(errnoError(-r, tmp));
	std::string final(name);
	if (int r = sys::renameAt(parentFd, tmp.c_str(), parentFd, final.c_str(), RENAME_NOREPLACE); r < 0)
		return fail(errnoError(-r, final));
	if (durable)
		(void)sys::fsync(parentFd);
	return {};
}

Result<UniqueFd> makeDir(int dirFd, std::string_view name)
{
	std::string n(name);
	if (int r = sys::mkdirAt(dirFd, n.c_str(), 0755); r < 0)
		return errnoError(-r, name);
	return fs::openDir(dirFd, name);
}

} // namespace

// Touches the generation file when a public change ends, whichever way it ends.
struct GenerationTouch {
	StoreWriter &writer;
	~GenerationTouch() { writer.touchGeneration(); }
};

void StoreWriter::touchGeneration()
{
	if (!options_.bumpGeneration)
		return;
	// A new inode each time (tmp + rename): a reader's stat cannot miss it.
	auto images = fs::openDir(rootFd_, paths::kImages);
	if (images) {
		auto name = std::string(paths::kGenerationFile).substr(paths::kImages.size() + 1);
		(void)fs::writeFileAtomic(images->get(), name, nowRfc3339() + " " + randomAlnum(8) + "\n", false);
	}
}

std::string nowRfc3339()
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
			   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

Result<StoreWriter> StoreWriter::open(const std::string &root, WriterOptions options)
{
	if (root.empty())
		return makeError(EINVAL, "root: empty path");
	// The root is the operator's own path: make it as mkdir -p would.
	for (std::size_t pos = 1; pos <= root.size(); ++pos) {
		if (pos == root.size() || root[pos] == '/') {
			std::string prefix = root.substr(0, pos);
			if (::mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST)
				return errnoError(errno, prefix);
		}
	}
	int fd = sys::openAt(AT_FDCWD, root.c_str(), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return errnoError(-fd, root);
	UniqueFd rootFd(fd);
	for (auto dir : {paths::kOverlayRO, paths::kLinks, paths::kLayersRO, paths::kImages})
		if (auto made = fs::makeDirs(rootFd.get(), dir); !made)
			return made.error();
	return StoreWriter(root, rootFd.release(), options);
}

StoreWriter::StoreWriter(std::string root, int rootFd, WriterOptions options)
	: root_(std::move(root)), rootFd_(rootFd), options_(options)
{
}

StoreWriter::StoreWriter(StoreWriter &&other) noexcept
	: root_(std::move(other.root_)), rootFd_(std::exchange(other.rootFd_, -1)),
	  options_(other.options_)
{
}

StoreWriter &StoreWriter::operator=(StoreWriter &&other) noexcept
{
	if (this != &other) {
		if (rootFd_ >= 0)
			::close(rootFd_);
		root_ = std::move(other.root_);
		rootFd_ = std::exchange(other.rootFd_, -1);
		options_ = other.options_;
	}
	return *this;
}

StoreWriter::~StoreWriter()
{
	if (rootFd_ >= 0)
		::close(rootFd_);
}

Result<std::string> StoreWriter::buildOverlay(const LayerSpec &spec)
{
	// The lower of a child is the parent's link followed by the parent's lower.
	std::vector<std::string> lower;
	if (!spec.parent.empty()) {
		auto parentDir = fs::openDir(rootFd_, fmt::format("{}/{}", paths::kOverlayRO, spec.parent));
		if (!parentDir)
			return makeError(parentDir.error().code,
					 fmt::format("parent {}: {}", spec.parent, parentDir.error().message));
		auto linkText = fs::readRegularFile(parentDir->get(), paths::kLinkFile, kMaxSmallFileBytes);
		if (!linkText)
			return makeError(linkText.error().code, fmt::format("parent {}: {}", spec.parent, linkText.error().message));
		auto parentLink = parseLinkFile(*linkText);
		if (!parentLink)
			return parentLink.error();
		lower.push_back(*parentLink);
		auto lowerText = fs::readRegularFile(parentDir->get(), paths::kLowerFile, kMaxSmallFileBytes);
		if (lowerText) {
			auto more = parseLowerFile(*lowerText);
			if (!more)
				return more.error();
			lower.insert(lower.end(), more->begin(), more->end());
		} else if (lowerText.error().code != ENOENT) {
			return lowerText.error();
		}
		if (lower.size() > kMaxLowerEntries)
			return makeError(EINVAL, fmt::format("layer {}: chain deeper than {}", spec.id, kMaxChainDepth));
	}
	std::string link = spec.link.empty() ? randomAlnum(kLinkLength) : spec.link;
	auto roDir = fs::openDir(rootFd_, paths::kOverlayRO);
	if (!roDir)
		return roDir.error();
	auto built = buildAndRename(roDir->get(), spec.id, options_.durable, [&](int dir) -> Result<void> {
		auto diff = makeDir(dir, paths::kDiffDir);
		if (!diff)
			return diff.error();
		if (spec.fillDiff)
			if (auto r = spec.fillDiff(diff->get()); !r)
				return r;
		if (auto r = fs::writeFileAtomic(dir, paths::kLinkFile, link, options_.durable); !r)
			return r;
		if (lower.empty()) {
			auto empty = makeDir(dir, paths::kEmptyDir);
			return empty ? Result<void>() : Result<void>(empty.error());
		}
		return fs::writeFileAtomic(dir, paths::kLowerFile, formatLowerFile(lower), options_.durable);
	});
	if (!built)
		return built.error();
	return link;
}

Result<void> StoreWriter::buildLayerMetadata(const LayerSpec &spec)
{
	LayerRecord record;
	record.id = spec.id;
	record.parent = spec.parent;
	record.names = spec.names;
	record.created = spec.created.empty() ? nowRfc3339() : spec.created;
	record.diffDigest = spec.diffDigest.empty() ? "sha256:" + spec.id : spec.diffDigest;
	record.compressedDiffDigest = spec.compressedDiffDigest;
	record.diffSize = spec.diffSize;
	std::string_view tarSplit = spec.tarSplit.empty()
		? std::string_view(reinterpret_cast<const char *>(kEmptyGzip), sizeof(kEmptyGzip))
		: std::string_view(spec.tarSplit);

	auto roDir = fs::openDir(rootFd_, paths::kLayersRO);
	if (!roDir)
		return roDir.error();
	return buildAndRename(roDir->get(), spec.id, options_.durable, [&](int dir) -> Result<void> {
		if (auto r = fs::writeFileAtomic(dir, paths::tarSplitName(spec.id), tarSplit, options_.durable); !r)
			return r;
		return fs::writeFileAtomic(dir, paths::kLayerJson, toJson(record), options_.durable);
	});
}

Result<void> StoreWriter::addLayer(const LayerSpec &spec)
{
	GenerationTouch touch{*this};
	if (auto r = checkId("layer", spec.id); !r)
		return r;
	if (!spec.parent.empty())
		if (auto r = checkId("parent", spec.parent); !r)
			return r;
	if (spec.parent == spec.id)
		return makeError(EINVAL, fmt::format("layer {}: is its own parent", spec.id));
	if (!spec.link.empty() && !isValidLinkName(spec.link))
		return makeError(EINVAL, fmt::format("link {}: not 26 characters of [0-9a-z]", spec.link.substr(0, 80)));
	bool there[2] = {};
	for (int i = 0; auto tree : {paths::kOverlayRO, paths::kLayersRO}) {
		struct stat st;
		auto dir = fs::openDir(rootFd_, tree);
		if (!dir)
			return dir.error();
		int r = fs::statEntry(dir->get(), spec.id, &st);
		if (r < 0 && r != -ENOENT)
			return errnoError(-r, fmt::format("{}/{}", tree, spec.id));
		there[i++] = r == 0;
	}
	if (there[0] && there[1])
		return makeError(EEXIST, fmt::format("{}/{}: exists", paths::kOverlayRO, spec.id));
	// Half a layer: what a writer killed while adding or removing it left. It was
	// never ready (a layer needs both halves), so it goes and is built anew.
	if (there[1])
		if (auto r = removeRO(paths::kLayersRO, spec.id); !r && r.error().code != ENOENT)
			return r;
	if (there[0])
		if (auto r = removeRO(paths::kOverlayRO, spec.id); !r && r.error().code != ENOENT)
			return r;

	auto link = buildOverlay(spec);
	if (!link)
		return link.error();
	if (auto r = buildLayerMetadata(spec); !r) {
		(void)removeRO(paths::kOverlayRO, spec.id);
		return r;
	}
	if (options_.makeLinks) {
		if (auto r = links::create(rootFd_, spec.id, *link); !r) {
			(void)links::remove(rootFd_, spec.id, *link);
			(void)removeRO(paths::kLayersRO, spec.id);
			(void)removeRO(paths::kOverlayRO, spec.id);
			return r;
		}
	}
	return {};
}

Result<void> StoreWriter::linkLayer(std::string_view id)
{
	if (auto r = checkId("layer", id); !r)
		return r;
	auto dir = fs::openDir(rootFd_, fmt::format("{}/{}", paths::kOverlayRO, id));
	if (!dir)
		return dir.error();
	auto text = fs::readRegularFile(dir->get(), paths::kLinkFile, kMaxSmallFileBytes);
	if (!text)
		return text.error();
	auto link = parseLinkFile(*text);
	if (!link)
		return link.error();
	return links::create(rootFd_, id, *link);
}

Result<void> StoreWriter::unlinkLayer(std::string_view id)
{
	if (auto r = checkId("layer", id); !r)
		return r;
	// The link name, when the overlay is still there to say it; else links::remove
	// finds the short link by its target.
	std::string link;
	if (auto dir = fs::openDir(rootFd_, fmt::format("{}/{}", paths::kOverlayRO, id)))
		if (auto text = fs::readRegularFile(dir->get(), paths::kLinkFile, kMaxSmallFileBytes))
			if (auto parsed = parseLinkFile(*text))
				link = *parsed;
	return links::remove(rootFd_, id, link);
}

Result<std::string> StoreWriter::publishImage(const ImageSpec &spec)
{
	GenerationTouch touch{*this};
	std::string config = spec.config.empty() ? defaultConfig(spec) : spec.config;
	std::string configDigest = sha256Digest(config);
	std::string id = spec.id.empty() ? configDigest.substr(7) : spec.id;
	if (auto r = checkId("image", id); !r)
		return r.error();
	if (auto r = checkId("top layer", spec.topLayer); !r)
		return r.error();

	Manifest manifest;
	manifest.kind = spec.kind;
	manifest.mediaType = spec.kind == ManifestKind::Oci ? "application/vnd.oci.image.manifest.v1+json"
							   : "application/vnd.docker.distribution.manifest.v2+json";
	manifest.configDigest = configDigest;
	manifest.layerDigests = spec.layerDigests;
	std::string manifestText = toJson(manifest);

	ImageRecord record;
	record.id = id;
	record.digest = sha256Digest(manifestText);
	record.names = spec.names;
	record.layer = spec.topLayer;
	record.metadata = "{}";
	record.created = spec.created.empty() ? nowRfc3339() : spec.created;
	record.loaded = nowRfc3339();
	std::vector<std::pair<std::string, std::string>> bigData = {{"sha256:" + id, config}};
	bigData.insert(bigData.end(), spec.bigData.begin(), spec.bigData.end());
	for (const auto &[key, content] : bigData) {
		record.bigDataNames.push_back(key);
		record.bigDataSizes[key] = static_cast<std::int64_t>(content.size());
		record.bigDataDigests[key] = sha256Digest(content);
	}
	record.bigDataNames.emplace_back(paths::kManifest);
	record.bigDataSizes[std::string(paths::kManifest)] = static_cast<std::int64_t>(manifestText.size());
	record.bigDataDigests[std::string(paths::kManifest)] = record.digest;

	auto images = fs::openDir(rootFd_, paths::kImages);
	if (!images)
		return images.error();
	struct stat st;
	if (fs::statEntry(images->get(), id + "/" + std::string(paths::kManifest), &st) == 0)
		return makeError(EEXIST, fmt::format("{}/{}: exists", paths::kImages, id));
	// A folder without its manifest is what a writer killed while publishing left:
	// never ready (the manifest comes last), so it goes and is written anew.
	if (fs::statEntry(images->get(), id, &st) == 0)
		if (auto r = fs::removeAtomically(images->get(), id); !r && r.error().code != ENOENT)
			return withPath(r, paths::kImages).error();
	auto dir = makeDir(images->get(), id);
	if (!dir) {
		if (dir.error().code == EEXIST)
			return makeError(EEXIST, fmt::format("{}/{}: exists", paths::kImages, id));
		return dir.error();
	}
	// iSulad's order: images.json, the big data, and the manifest last, which is
	// what tells readers the image is complete.
	auto write = [&]() -> Result<void> {
		if (auto r = fs::writeFileAtomic(dir->get(), paths::kImagesJson, toJson(record), options_.durable); !r)
			return r;
		for (const auto &[key, content] : bigData)
			if (auto r = fs::writeFileAtomic(dir->get(), bigDataFileName(key), content, options_.durable); !r)
				return r;
		return fs::writeFileAtomic(dir->get(), paths::kManifest, manifestText, options_.durable);
	};
	if (auto r = write(); !r) {
		(void)removeImage(id);
		return r.error();
	}
	return id;
}

Result<void> StoreWriter::removeImage(std::string_view id)
{
	GenerationTouch touch{*this};
	if (auto r = checkId("image", id); !r)
		return r;
	auto images = fs::openDir(rootFd_, paths::kImages);
	if (!images)
		return images.error();
	return withPath(fs::removeAtomically(images->get(), id), paths::kImages);
}

namespace {

constexpr int kMaxLeftoverDepth = 64;

// The newest change time (Unix ns) of the entry name in dirfd and of everything below
// it (not following links), down to kMaxLeftoverDepth levels.
std::int64_t newestChange(int dirfd, const std::string &name, const struct stat &st, int depth)
{
	std::int64_t newest = std::int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
	if (!S_ISDIR(st.st_mode) || depth >= kMaxLeftoverDepth)
		return newest;
	auto dir = fs::openDir(dirfd, name);
	auto entries = dir ? fs::listDir(dir->get()) : Result<std::vector<fs::DirEntry>>(dir.error());
	if (!entries)
		return newest;
	for (const auto &e : *entries) {
		struct stat inner;
		if (fs::statEntry(dir->get(), e.name, &inner) == 0)
			newest = std::max(newest, newestChange(dir->get(), e.name, inner, depth + 1));
	}
	return newest;
}

} // namespace

Result<std::vector<std::string>> StoreWriter::findLeftovers(std::int64_t olderThanSeconds)
{
	std::vector<std::string> found;
	struct timespec now;
	::clock_gettime(CLOCK_REALTIME, &now);
	// In nanoseconds: in whole seconds, a change 10 ms ago could count as a second old.
	std::int64_t nowNs = std::int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
	constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000000000;
	std::int64_t olderThanNs = std::clamp<std::int64_t>(olderThanSeconds, 0, kMaxSeconds) * 1000000000;
	for (auto tree : {paths::kOverlayRO, paths::kLayersRO, paths::kImages, paths::kOverlay, paths::kLayers,
			  paths::kLinks}) {
		auto dir = fs::openDir(rootFd_, tree);
		if (!dir) {
			if (dir.error().code == ENOENT)
				continue;
			return dir.error();
		}
		auto entries = fs::listDir(dir->get());
		if (!entries)
			return withPath(entries.error(), tree).error();
		for (const auto &e : *entries) {
			// Only the writer's own temporary names: ".tmp-<name>-<random>" and
			// ".trash-<name>-<random>" (random_name.h).
			if (!e.name.starts_with(".tmp-") && !e.name.starts_with(".trash-"))
				continue;
			struct stat st;
			if (fs::statEntry(dir->get(), e.name, &st) < 0)
				continue;
			// In the local folders (iSulad's own) only our temporary links.
			bool local = tree == paths::kOverlay || tree == paths::kLayers || tree == paths::kLinks;
			if (local && !S_ISLNK(st.st_mode))
				continue;
			if (nowNs - newestChange(dir->get(), e.name, st, 0) >= olderThanNs)
				found.push_back(fmt::format("{}/{}", tree, e.name));
		}
	}
	return found;
}

Result<std::size_t> StoreWriter::removeLeftovers(std::int64_t olderThanSeconds)
{
	auto found = findLeftovers(olderThanSeconds);
	if (!found)
		return found.error();
	for (const auto &path : *found) {
		auto slash = path.rfind('/');
		auto dir = fs::openDir(rootFd_, path.substr(0, slash));
		auto removed = dir ? fs::removeTree(dir->get(), path.substr(slash + 1)) : Result<void>(dir.error());
		if (!removed && removed.error().code != ENOENT)
			return withPath(removed, path.substr(0, slash)).error();
	}
	return found->size();
}

namespace {

// An image's folder and its images.json, parsed; errors name the file.
struct ImageFile {
	UniqueFd dir;
	ImageRecord record;
};

Result<ImageFile> readImageFile(int imagesFd, std::string_view id)
{
	std::string where = fmt::format("{}/{}", paths::kImages, id);
	auto dir = fs::openDir(imagesFd, id);
	if (!dir)
		return withPath(dir.error(), paths::kImages).error();
	auto text = fs::readRegularFile(dir->get(), paths::kImagesJson, kMaxJsonBytes);
	if (!text)
		return withPath(text.error(), where).error();
	auto record = parseImageJson(*text);
	if (!record)
		return makeError(record.error().code, fmt::format("{}/{}", where, record.error().message));
	return ImageFile{std::move(*dir), std::move(*record)};
}

} // namespace

Result<void> StoreWriter::setImageNames(std::string_view id, const std::vector<std::string> &names)
{
	GenerationTouch touch{*this};
	if (auto r = checkId("image", id); !r)
		return r;
	auto images = fs::openDir(rootFd_, paths::kImages);
	if (!images)
		return images.error();
	auto image = readImageFile(images->get(), id);
	if (!image)
		return image.error();
	image->record.names = names;
	return fs::writeFileAtomic(image->dir.get(), paths::kImagesJson, toJson(image->record), options_.durable);
}

Result<std::vector<std::string>> StoreWriter::takeNames(const std::vector<std::string> &names, std::string_view keepId)
{
	GenerationTouch touch{*this};
	std::vector<std::string> changed;
	auto images = fs::openDir(rootFd_, paths::kImages);
	if (!images)
		return images.error();
	auto entries = fs::listDir(images->get());
	if (!entries)
		return withPath(entries.error(), paths::kImages).error();
	for (const auto &e : *entries) {
		if (!isValidId(e.name) || e.name == keepId)
			continue;
		auto image = readImageFile(images->get(), e.name);
		if (!image)
			continue;
		auto &held = image->record.names;
		auto taken = std::erase_if(held, [&](const std::string &n) { return std::find(names.begin(), names.end(), n) != names.end(); });
		if (taken == 0)
			continue;
		if (auto r = fs::writeFileAtomic(image->dir.get(), paths::kImagesJson, toJson(image->record), options_.durable); !r)
			return withPath(r, fmt::format("{}/{}", paths::kImages, e.name)).error();
		changed.push_back(e.name);
	}
	return changed;
}

Result<void> StoreWriter::removeRO(std::string_view tree, std::string_view id)
{
	auto dir = fs::openDir(rootFd_, tree);
	if (!dir)
		return dir.error();
	// Renamed away first: readers see the folder vanish in one step, never half-deleted.
	return withPath(fs::removeAtomically(dir->get(), id), tree);
}

Result<void> StoreWriter::removeLayerMetadata(std::string_view id)
{
	GenerationTouch touch{*this};
	if (auto r = checkId("layer", id); !r)
		return r;
	return removeRO(paths::kLayersRO, id);
}

Result<void> StoreWriter::removeOverlay(std::string_view id)
{
	GenerationTouch touch{*this};
	if (auto r = checkId("layer", id); !r)
		return r;
	return removeRO(paths::kOverlayRO, id);
}

Result<void> StoreWriter::removeLayer(std::string_view id)
{
	if (auto r = unlinkLayer(id); !r)
		return r;
	// The metadata first: the layer stops being ready at once, while its data stays
	// whole until it goes in one step.
	auto meta = removeLayerMetadata(id);
	if (!meta && meta.error().code != ENOENT)
		return meta;
	auto data = removeOverlay(id);
	if (!data && !(data.error().code == ENOENT && meta))
		return data;
	return {};
}

} // namespace lw

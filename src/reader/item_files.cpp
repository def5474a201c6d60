// Reading one item's own folder: an overlay, a layer's metadata, or an image.
#include "item_files.h"

#include "safe_fs.h"
#include "text.h"

#include <layerwatch/paths.h>

#include <fmt/format.h>


#include <algorithm>
#include <optional>

namespace lw {

ProbeNames overlayProbeNames()
{
	// empty/ only matters without a lower file: it is looked at then (and joins the
	// probe), which spares every layer with a parent a lookup, on a share a round trip.
	// Never destroyed (as imageProbeNames' below): a worker may copy it while exit()
	// runs the static destructors, where a host exits without stopping us (iSulad).
	static const ProbeNames &names = *new ProbeNames(
		{std::string(paths::kLinkFile), std::string(paths::kLowerFile), std::string(paths::kDiffDir)});
	return names;
}

ProbeNames layerProbeNames(const std::string &id)
{
	return ProbeNames({std::string(paths::kLayerJson), paths::tarSplitName(id)});
}

ProbeNames imageProbeNames()
{
	static const ProbeNames &names =
		*new ProbeNames({std::string(paths::kImagesJson), std::string(paths::kManifest)});
	return names;
}

namespace {

// "" when what the probe saw of name is of the wanted type, else the problem. The
// probe's look stands in for another stat: it was taken a moment ago, and every file
// read is still checked to be the one looked at.
std::string checkLooked(const FileId &file, std::string_view name, mode_t wantedType)
{
	if (file.ino == 0)
		return fmt::format("{}: missing", name);
	if ((file.mode & S_IFMT) != wantedType)
		return fmt::format("{}: not a {}", name, wantedType == S_IFDIR ? "directory" : "regular file");
	return {};
}

// Records a failed step: a content problem (the item is pending for it), or trouble
// on the way (ioError: the item keeps its last known state).
template <class Files>
Files &failed(Files &out, const Error &error)
{
	out.problem = error.message;
	if (!fs::isContentProblem(error.code))
		out.ioError = error.code;
	return out;
}

// Every reader's first step: the probe of the folder and of out.probeNames. False
// when out already says why the item cannot be read: a failed look (trouble, not
// absence), or a folder that is missing or is no real folder. The files are then read
// by their path below the tree, without opening the folder: a round trip less per
// item on a network share.
template <class Files>
bool probe(Files &out, int treeFd, const std::string &id, int folderFlags)
{
	out.identity = probeIdentity(treeFd, id, out.probeNames.list(), folderFlags);
	if (int err = identityError(out.identity)) {
		out.problem = fmt::format("{}: {}", id, fs::describeErrno(err));
		out.ioError = err;
		return false;
	}
	const FileId &folder = out.identity.folder;
	if (folder.ino == 0)
		out.problem = "folder: missing";
	else if (S_ISLNK(folder.mode))
		out.problem = "folder: is a symlink";
	else if (!S_ISDIR(folder.mode))
		out.problem = "folder: not a directory";
	return out.problem.empty();
}

// Reads <id>/<name> as the probe saw it.
Result<std::string> readLooked(int treeFd, const std::string &id, std::string_view name, std::size_t cap,
			       const FileId &looked)
{
	return fs::readRegularFile(treeFd, fmt::format("{}/{}", id, name), cap, asLooked(looked));
}

// Looks at <id>/<name>, a file the first probe does not cover, and adds it to the
// item's probe, so that its arrival or change is seen by the next one. Nothing when
// the look failed: out then says where (trouble, not absence).
std::optional<FileId> lookFurther(ItemState &out, int treeFd, const std::string &id, const std::string &name)
{
	FileId found = statId(treeFd, id + "/" + name);
	if (found.error) {
		out.problem = fmt::format("{}: {}", name, fs::describeErrno(found.error));
		out.ioError = found.error;
		return std::nullopt;
	}
	out.probeNames = out.probeNames.with(name);
	out.identity.files.push_back(found);
	return found;
}

// Usable own files: from now on the folder alone stands for them (see ItemState).
template <class Files>
Files settled(Files files)
{
	if (files.problem.empty() && files.ioError == 0) {
		// Freed, not just emptied: thousands of items keep this state.
		files.probeNames = {};
		files.identity.files = {};
	}
	return files;
}

OverlayFiles readOverlayFilesOnce(int treeFd, const std::string &id, int folderFlags)
{
	OverlayFiles out;
	out.probeNames = overlayProbeNames();
	if (!probe(out, treeFd, id, folderFlags))
		return out;
	const auto seen = out.identity.files; // link, lower, diff (a copy: files may grow below)
	if (out.problem = checkLooked(seen[2], paths::kDiffDir, S_IFDIR); !out.problem.empty())
		return out;
	auto linkText = readLooked(treeFd, id, paths::kLinkFile, kMaxSmallFileBytes, seen[0]);
	if (!linkText)
		return failed(out, linkText.error());
	auto link = parseLinkFile(*linkText);
	if (!link)
		return out.problem = link.error().message, out;
	out.link = *ShortLink::parse(*link); // parseLinkFile takes valid names only
	out.linkBornNs = seen[0].btimeNs ? seen[0].btimeNs : seen[0].ctimeNs;

	auto lowerText = readLooked(treeFd, id, paths::kLowerFile, kMaxSmallFileBytes, seen[1]);
	if (lowerText) {
		auto lower = parseLowerFile(*lowerText);
		if (!lower)
			return out.problem = lower.error().message, out;
		out.lower.reserve(lower->size());
		for (const auto &name : *lower)
			out.lower.push_back(*ShortLink::parse(name)); // as link
	} else if (lowerText.error().code == ENOENT) {
		// No lower: a base layer, which iSulad marks with an empty/ folder.
		auto empty = lookFurther(out, treeFd, id, std::string(paths::kEmptyDir));
		if (empty && !checkLooked(*empty, paths::kEmptyDir, S_IFDIR).empty())
			out.problem = "lower: missing (and no empty/ for a base layer)";
	} else {
		failed(out, lowerText.error());
	}
	return out;
}

LayerFiles readLayerFilesOnce(int treeFd, const std::string &id, int folderFlags)
{
	LayerFiles out;
	out.probeNames = layerProbeNames(id);
	if (!probe(out, treeFd, id, folderFlags))
		return out;
	const auto &seen = out.identity.files; // layer.json, tar-split
	auto text = readLooked(treeFd, id, paths::kLayerJson, kMaxJsonBytes, seen[0]);
	if (!text)
		return failed(out, text.error());
	auto record = parseLayerJson(*text);
	if (!record)
		return out.problem = record.error().message, out;
	auto &r = *record;
	out.info = PackedLayer(LayerInfo{.id = r.id,
							       .parent = r.parent,
							       .names = std::move(r.names),
							       .diffDigest = std::move(r.diffDigest),
							       .compressedDiffDigest = std::move(r.compressedDiffDigest),
							       .diffSize = r.diffSize,
							       .created = std::move(r.created)});
	if (r.id != id)
		out.problem = fmt::format("layer.json: id {} does not match its folder", quoteForMessage(r.id));
	else if (r.writable)
		out.problem = "layer.json: writable (a container layer, never shared)";
	else if (r.incomplete)
		out.problem = "layer.json: incomplete";
	else if (!r.parent.empty() && !isValidId(r.parent))
		out.problem = fmt::format("layer.json: parent {} is not an id", quoteForMessage(r.parent));
	else if (r.parent == id)
		out.problem = "layer.json: the layer is its own parent";
	else
		out.problem = checkLooked(seen[1], paths::tarSplitName(id), S_IFREG);
	return out;
}

} // namespace

OverlayFiles readOverlayFiles(int treeFd, const std::string &id, int folderFlags)
{
	return settled(readOverlayFilesOnce(treeFd, id, folderFlags));
}

LayerFiles readLayerFiles(int treeFd, const std::string &id, int folderFlags)
{
	return settled(readLayerFilesOnce(treeFd, id, folderFlags));
}

namespace {

// All of an image but its manifest, its probe taken: images.json read and checked,
// and each of its big-data files looked at (joining the probe). Sets out.info once
// images.json parses, and out.problem (with ioError for trouble) at the first thing
// wrong.
void readImageRest(ImageFiles &out, int treeFd, const std::string &id, FileId imagesJson)
{
	auto text = readLooked(treeFd, id, paths::kImagesJson, kMaxJsonBytes, imagesJson);
	if (!text) {
		failed(out, text.error());
		return;
	}
	auto record = parseImageJson(*text);
	if (!record) {
		out.problem = record.error().message;
		return;
	}
	const auto &r = *record;
	// What the checks need besides (sizes, digests) is not kept: thousands of images
	// keep this.
	out.info = PackedImage(ImageInfo{.id = r.id,
							       .names = r.names,
							       .topLayer = r.layer,
							       .digest = r.digest,
							       .created = r.created,
							       .bigDataNames = r.bigDataNames});
	if (r.id != id) {
		out.problem = fmt::format("images.json: id {} does not match its folder", quoteForMessage(r.id));
		return;
	}
	if (r.layer.empty()) {
		out.problem = "images.json: no top layer";
		return;
	}
	if (!isValidId(r.layer)) {
		out.problem = fmt::format("images.json: layer {} is not an id", quoteForMessage(r.layer));
		return;
	}
	// Every big-data item must have its file; each stat joins the identity.
	for (const auto &key : r.bigDataNames) {
		std::string file = bigDataFileName(key);
		if (file == paths::kManifest)
			continue;
		auto found = lookFurther(out, treeFd, id, file);
		if (!found)
			return;
		if (out.problem.empty() && !S_ISREG(found->mode))
			out.problem = fmt::format("images.json: big data {} {}", quoteForMessage(key),
						  found->ino == 0 ? "missing" : "not a regular file");
	}
}

// The manifest's problem, the probe taken, or "" when it parses. A read that failed
// on the way (trouble, not absence) is set on out.
std::string readManifest(ImageFiles &out, int treeFd, const std::string &id)
{
	auto text = readLooked(treeFd, id, paths::kManifest, kMaxJsonBytes, out.identity.files[1]);
	if (!text) {
		if (!fs::isContentProblem(text.error().code))
			failed(out, text.error());
		return text.error().message;
	}
	auto manifest = parseManifest(*text);
	return manifest ? std::string() : manifest.error().message;
}

// Usable: big-data files are written once, before the manifest; only images.json (a
// tag rewrites it in place) and the manifest stay probed.
void settleImage(ImageFiles &out)
{
	out.probeNames = imageProbeNames();
	out.identity.files.resize(2);
}

// An image last read pending on its manifest alone: read again, only its manifest
// is read while its folder, images.json and big data keep their identity (one open
// and one read where the arrival of a manifest cost two of each and a parse).
// Nothing when anything else changed, or a look failed: then it is read in full.
std::optional<ImageFiles> rereadManifestOnly(int treeFd, const std::string &id, int folderFlags,
					     const ImageFiles &last)
{
	ImageFiles out;
	out.probeNames = last.probeNames; // images.json, manifest, the big data
	if (!probe(out, treeFd, id, folderFlags))
		return std::nullopt;
	const auto &now = out.identity.files, &then = last.identity.files;
	bool restSame = sameInode(out.identity.folder, last.identity.folder) && now.size() == then.size() &&
			now.size() >= 2 && now[0] == then[0] && std::equal(now.begin() + 2, now.end(), then.begin() + 2);
	if (!restSame)
		return std::nullopt;
	out.info = last.info;
	std::string problem = readManifest(out, treeFd, id);
	if (out.ioError)
		return out; // trouble: the read says nothing
	if (problem.empty())
		settleImage(out);
	else
		out.problem = std::move(problem), out.restChecked = true;
	return out;
}

} // namespace

ImageFiles readImageFiles(int treeFd, const std::string &id, int folderFlags, const ImageFiles *partlyRead)
{
	if (partlyRead && partlyRead->restChecked)
		if (auto reread = rereadManifestOnly(treeFd, id, folderFlags, *partlyRead))
			return std::move(*reread);
	ImageFiles out;
	out.probeNames = imageProbeNames();
	if (!probe(out, treeFd, id, folderFlags))
		return out;
	// The manifest first: writers put it last, so it says whether the image is done.
	std::string manifestProblem = readManifest(out, treeFd, id);
	if (out.ioError)
		return out;
	readImageRest(out, treeFd, id, out.identity.files[0]);
	if (manifestProblem.empty()) {
		if (out.problem.empty() && !out.ioError)
			settleImage(out);
		return out;
	}
	// Pending on its manifest, which is its reason whatever the rest says. With the
	// rest checked (and its big data in the probe), the manifest's arrival is read
	// alone (rereadManifestOnly).
	out.restChecked = out.problem.empty() && !out.ioError;
	out.problem = std::move(manifestProblem);
	out.ioError = 0;
	return out;
}

} // namespace lw

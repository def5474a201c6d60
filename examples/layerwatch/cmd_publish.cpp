// `layerwatch publish`: the writing side from the command line. Builds layers (base
// first) and an image on top, as a pulling host does.
#include "commands.h"
#include "options.h"
#include "reference.h"
#include "text_out.h"

#include <layerwatch/model.h>
#include <layerwatch/writer.h>

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch publish (-r R | -c DAEMON_JSON) (--synthetic N | -l DIR...)\n"
	"                          [-t NAME]... [--no-links]\n"
	"\n"
	"Publishes an image into the shared trees below R as a pulling host does: each\n"
	"layer is built in a temporary folder inside RO/ and renamed into place, then the\n"
	"image is written with its manifest last. Prints the image id.\n"
	"\n"
	LW_ROOT_OPTIONS_HELP
	"  --synthetic N         N synthetic layers (1 to 128), each with one small file\n"
	"  -l, --layer-dir DIR   a folder whose contents become one layer (repeat, base\n"
	"                        first); the same contents over the same parent are the\n"
	"                        same layer, shared by every image that has it\n"
	"  -t, --name NAME       an image reference (repeat; \"app\" means app:latest); a\n"
	"                        name another image holds moves to this one, as iSulad\n"
	"                        moves a tag. Default: layerwatch/synthetic:<id>\n"
	"  --no-links            make no local links (a host that only publishes)\n";

constexpr int kMaxCopyDepth = 256;

lw::Error errnoError(const std::string &what)
{
	return lw::makeError(errno, fmt::format("{}: {}", what, std::strerror(errno)));
}

// The digest of a folder's contents: every entry below it by path (sorted), with its
// type, permission bits and content (a symlink's target). Stands for the diff id a
// registry computes from the layer's tar: equal contents give equal layers.
lw::Result<std::string> contentDigest(const std::string &dir)
{
	namespace stdfs = std::filesystem;
	std::error_code ec;
	std::vector<stdfs::path> paths;
	for (stdfs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
		if (it.depth() > kMaxCopyDepth)
			return lw::makeError(ELOOP, dir + ": deeper than 256 levels");
		paths.push_back(it->path());
	}
	if (ec)
		return lw::makeError(ec.value(), fmt::format("{}: {}", dir, ec.message()));
	std::sort(paths.begin(), paths.end());
	std::string summary;
	for (const auto &path : paths) {
		struct stat st;
		if (::lstat(path.c_str(), &st) != 0)
			return errnoError(path.string());
		std::string content;
		if (S_ISREG(st.st_mode)) {
			std::ifstream in(path, std::ios::binary);
			content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
			content = lw::sha256Digest(content);
		} else if (S_ISLNK(st.st_mode)) {
			content = stdfs::read_symlink(path, ec).string();
		}
		// Length-prefixed: a name may hold any byte but NUL and '/'.
		std::string name = stdfs::relative(path, dir).string();
		summary += fmt::format("{}:{}:{:o}:{}\n", name.size(), name, st.st_mode, content);
	}
	return lw::sha256Digest(summary);
}

// Copies the contents of the folder srcFd into dstFd: files, folders and symlinks
// (as they are, never followed); anything else is refused.
lw::Result<void> copyTree(int srcFd, int dstFd, const std::string &where, int depth)
{
	if (depth > kMaxCopyDepth)
		return lw::makeError(ELOOP, where + ": deeper than 256 levels");
	int listFd = ::openat(srcFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = listFd < 0 ? nullptr : ::fdopendir(listFd);
	if (!dir) {
		if (listFd >= 0)
			::close(listFd);
		return errnoError(where);
	}
	lw::Result<void> result;
	while (struct dirent *e = ::readdir(dir)) {
		std::string name = e->d_name;
		if (name == "." || name == "..")
			continue;
		std::string path = where + "/" + name;
		struct stat st;
		if (::fstatat(srcFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
			result = errnoError(path);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int from = ::openat(srcFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (from < 0 || ::mkdirat(dstFd, name.c_str(), st.st_mode & 07777) != 0) {
				result = errnoError(path);
				if (from >= 0)
					::close(from);
				break;
			}
			int to = ::openat(dstFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			result = to < 0 ? lw::Result<void>(errnoError(path)) : copyTree(from, to, path, depth + 1);
			::close(from);
			if (to >= 0)
				::close(to);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = ::readlinkat(srcFd, name.c_str(), target, sizeof(target) - 1);
			if (n < 0 || ::symlinkat(std::string(target, static_cast<std::size_t>(n)).c_str(), dstFd, name.c_str()) != 0)
				result = errnoError(path);
		} else if (S_ISREG(st.st_mode)) {
			int from = ::openat(srcFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int to = ::openat(dstFd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
			char buf[65536];
			ssize_t n = 0;
			while (from >= 0 && to >= 0 && (n = ::read(from, buf, sizeof(buf))) > 0)
				if (::write(to, buf, static_cast<std::size_t>(n)) != n) {
					n = -1;
					break;
				}
			if (from < 0 || to < 0 || n < 0)
				result = errnoError(path);
			if (from >= 0)
				::close(from);
			if (to >= 0)
				::close(to);
		} else {
			result = lw::makeError(EINVAL, path + ": not a file, folder or symlink");
		}
		if (!result)
			break;
	}
	::closedir(dir);
	return result;
}

} // namespace

int runPublish(const Args &args)
{
	RootChoice choice;
	std::string syntheticText;
	std::vector<std::string> layerDirs, names;
	bool noLinks = false;
	auto options = rootOptions(choice);
	options.insert(options.end(), {text("--synthetic", 0, syntheticText), flag("--no-links", 0, noLinks)});
	options.push_back({"--layer-dir", 'l', true, [&](const std::string &v) {
				   layerDirs.push_back(v);
				   return 0;
			   }});
	options.push_back({"--name", 't', true, [&](const std::string &v) {
				   auto name = normalizedReference(v);
				   if (!name)
					   return usageError("publish", fmt::format("--name {}: not an image reference "
										    "([domain/]path[:tag], lowercase path)",
										    printable(v)));
				   if (std::find(names.begin(), names.end(), *name) == names.end())
					   names.push_back(*name);
				   return 0;
			   }});
	if (auto done = parseArgs("publish", args, options, kHelp))
		return *done;
	bool links = !noLinks;
	unsigned long synthetic = 0;
	if (!syntheticText.empty()) {
		auto n = parseWhole(syntheticText, 1, lw::kMaxChainDepth);
		if (!n)
			return usageError("publish", "--synthetic takes a number of layers, 1 to 128");
		synthetic = *n;
	}
	if ((synthetic > 0) == !layerDirs.empty())
		return usageError("publish", "give --synthetic N or --layer-dir DIR, one of the two");
	if (layerDirs.size() > lw::kMaxChainDepth)
		return usageError("publish", "at most 128 layers");
	std::string root;
	if (int r = resolveRoot("publish", choice, root); r != 0)
		return r;

	auto writer = lw::StoreWriter::open(root, {.makeLinks = links});
	if (!writer) {
		std::fprintf(stderr, "layerwatch publish: %s\n", writer.error().message.c_str());
		return 1;
	}
	std::random_device rd;
	std::string salt = fmt::format("{}-{}", rd(), std::chrono::system_clock::now().time_since_epoch().count());
	std::size_t count = synthetic > 0 ? synthetic : layerDirs.size();
	std::string parent, diffIds;
	std::vector<std::string> layerDigests;
	for (std::size_t i = 0; i < count; ++i) {
		// Ids as registries make them: the chain id of the parent's and this diff.
		std::string diffDigest = lw::sha256Digest(fmt::format("{}/{}", salt, i));
		if (synthetic == 0) {
			auto digest = contentDigest(layerDirs[i]);
			if (!digest) {
				std::fprintf(stderr, "layerwatch publish: layer %zu: %s\n", i + 1, digest.error().message.c_str());
				return 1;
			}
			diffDigest = *digest;
		}
		std::string id = lw::sha256Digest(parent.empty() ? diffDigest : "sha256:" + parent + " " + diffDigest).substr(7);
		lw::LayerSpec spec{.id = id, .parent = parent, .diffDigest = diffDigest};
		if (synthetic > 0) {
			spec.fillDiff = [i](int diffFd) -> lw::Result<void> {
				std::string name = fmt::format("layer-{}.txt", i);
				int fd = ::openat(diffFd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				if (fd < 0)
					return errnoError(name);
				std::string text = fmt::format("synthetic layer {}\n", i);
				bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
				::close(fd);
				return ok ? lw::Result<void>() : lw::Result<void>(errnoError(name));
			};
		} else {
			std::string dir = layerDirs[i];
			spec.fillDiff = [dir](int diffFd) -> lw::Result<void> {
				int src = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				if (src < 0)
					return errnoError(dir);
				auto r = copyTree(src, diffFd, dir, 0);
				::close(src);
				return r;
			};
		}
		// A layer already there (a base another image shares, or one a killed publish
		// finished) is used as it is: its id says its content.
		auto added = writer->addLayer(spec);
		if (!added && added.error().code == EEXIST && links)
			added = writer->linkLayer(id);
		else if (!added && added.error().code == EEXIST)
			added = {};
		if (!added) {
			std::fprintf(stderr, "layerwatch publish: layer %zu: %s\n", i + 1, added.error().message.c_str());
			return 1;
		}
		diffIds += fmt::format("{}\"{}\"", diffIds.empty() ? "" : ",", diffDigest);
		layerDigests.push_back(diffDigest);
		parent = id;
	}
	std::string config = fmt::format(R"({{"architecture":"amd64","os":"linux","created":"{}","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}})",
					 lw::nowRfc3339(), diffIds);
	if (names.empty())
		names.push_back(fmt::format("layerwatch/synthetic:{}", lw::sha256Digest(config).substr(7, 12)));
	auto image = writer->publishImage({.topLayer = parent, .names = names, .config = config, .layerDigests = layerDigests});
	if (!image) {
		std::fprintf(stderr, "layerwatch publish: image: %s\n", image.error().message.c_str());
		return 1;
	}
	// The names are this image's now: iSulad takes a tag from the image that had it.
	auto moved = writer->takeNames(names, *image);
	if (!moved) {
		std::fprintf(stderr, "layerwatch publish: image %s published, but its names are still held by others: %s\n",
			     image->c_str(), printable(moved.error().message).c_str());
		return 1;
	}
	for (const auto &from : *moved)
		std::fprintf(stderr, "layerwatch publish: names moved from image %s\n", from.c_str());
	std::printf("%s\n", image->c_str());
	return 0;
}

} // namespace lwcli

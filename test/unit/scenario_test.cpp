// Scenario tests as data: each test/scenarios/*.scn file is a script of filesystem
// steps, scans, and the store state, change set and pending reasons expected after
// each scan. The language is described at the top of test/scenarios/basics.scn.
#include "test_support.h"
#include "store_state.h"

#include "reconciler.h"
#include "root.h"

#include <layerwatch/model.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>

using namespace lw;

namespace {

std::vector<std::string> split(const std::string &line)
{
	std::istringstream in(line);
	std::vector<std::string> words;
	for (std::string w; in >> w;)
		words.push_back(w);
	return words;
}

// The text of line after its first n words, without surrounding blanks.
std::string restAfter(const std::string &line, std::size_t n)
{
	std::size_t pos = 0;
	for (std::size_t i = 0; i < n; ++i) {
		pos = line.find_first_not_of(" \t", pos);
		pos = pos == std::string::npos ? line.size() : line.find_first_of(" \t", pos);
		if (pos == std::string::npos)
			return {};
	}
	auto first = line.find_first_not_of(" \t", pos);
	if (first == std::string::npos)
		return {};
	auto last = line.find_last_not_of(" \t");
	return line.substr(first, last - first + 1);
}

class Scenario {
public:
	explicit Scenario(std::string name) : name_(std::move(name))
	{
		root_ = tmp_ / "s";
		for (auto dir : {"overlay/RO", "overlay/l", "overlay-layers/RO", "overlay-images"})
			lw::test::makeDirs(root_ + "/" + dir);
		lw::test::makeDirs(tmp_ / "outside");
		rootFd_ = unwrapFd();
		restart();
	}

	void step(int lineNo, const std::string &line)
	{
		auto words = split(line);
		if (words.empty() || words[0][0] == '#')
			return;
		INFO(name_ << " line " << lineNo << ": " << line);
		const std::string &op = words[0];
		auto arg = [&](std::size_t i) { return i < words.size() ? subst(words[i]) : std::string(); };
		auto option = [&](const std::string &key) -> std::string {
			for (std::size_t i = 1; i < words.size(); ++i)
				if (words[i].rfind(key + "=", 0) == 0)
					return subst(words[i].substr(key.size() + 1));
			return {};
		};
		auto flag = [&](const std::string &key) {
			return std::find(words.begin(), words.end(), key) != words.end();
		};
		if (op == "overlay") {
			writeOverlay(words[1], option("parent"), option("link"));
		} else if (op == "layerjson") {
			writeLayerJson(words[1], option("parent"), option("id"), flag("writable"), flag("incomplete"), !flag("notarsplit"));
		} else if (op == "layer") {
			writeOverlay(words[1], option("parent"), option("link"));
			writeLayerJson(words[1], option("parent"), {}, false, false, true);
		} else if (op == "chain") {
			// chain N P: P1 (base) .. PN, each the parent of the next
			int n = std::stoi(words[1]);
			for (int i = 1; i <= n; ++i) {
				std::string name = words[2] + std::to_string(i);
				std::string parent = i > 1 ? id(words[2] + std::to_string(i - 1)) : "";
				writeOverlay(name, parent, {});
				writeLayerJson(name, parent, {}, false, false, true);
			}
		} else if (op == "imagejson") {
			writeImageJson(words[1], option("top"), option("names"), option("id"));
		} else if (op == "config") {
			writeConfig(words[1]);
		} else if (op == "manifest") {
			std::string schema = option("schema");
			lw::test::writeFile(imageDir(words[1]) + "/manifest", schema == "1"
				? R"({"schemaVersion":1,"name":"x","fsLayers":[]})"
				: R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:)" + id(words[1]) + R"("},"layers":[]})");
		} else if (op == "image") {
			writeImageJson(words[1], option("top"), option("names"), {});
			writeConfig(words[1]);
			step(lineNo, "manifest " + words[1]);
		} else if (op == "write") {
			lw::test::writeFile(root_ + "/" + arg(1), subst(restAfter(line, 2)));
		} else if (op == "writebig") {
			lw::test::writeFile(root_ + "/" + arg(1), "{\"id\":\"" + std::string(std::stoul(words[2]), 'a') + "\"}");
		} else if (op == "writenested") {
			std::size_t n = std::stoul(words[2]);
			lw::test::writeFile(root_ + "/" + arg(1), "{\"id\":" + std::string(n, '[') + std::string(n, ']') + "}");
		} else if (op == "writelower") {
			std::string lower;
			for (unsigned long i = 0; i < std::stoul(words[2]); ++i)
				lower += (i ? ":l/" : "l/") + std::string(26, 'a');
			lw::test::writeFile(root_ + "/" + arg(1), lower);
		} else if (op == "rm") {
			lw::test::removeAll(root_ + "/" + arg(1));
		} else if (op == "mv") {
			REQUIRE(::rename((root_ + "/" + arg(1)).c_str(), (root_ + "/" + arg(2)).c_str()) == 0);
		} else if (op == "mkdir") {
			lw::test::makeDirs(root_ + "/" + arg(1));
		} else if (op == "symlink") {
			lw::test::makeSymlink(arg(1), root_ + "/" + arg(2));
		} else if (op == "hardlink") {
			REQUIRE(::link((root_ + "/" + arg(1)).c_str(), (root_ + "/" + arg(2)).c_str()) == 0);
		} else if (op == "outside") {
			// outside NAME: a perfect-looking overlay folder outside the root
			std::string dir = tmp_ / ("outside/" + words[1]);
			lw::test::makeDirs(dir + "/diff");
			lw::test::makeDirs(dir + "/empty");
			lw::test::writeFile(dir + "/link", link(words[1]));
		} else if (op == "rwlayer") {
			// A container's RW layer: local folders and a short link of its own.
			lw::test::makeDirs(root_ + "/overlay/" + id(words[1]) + "/diff");
			lw::test::makeDirs(root_ + "/overlay-layers/" + id(words[1]));
			lw::test::makeSymlink("../" + id(words[1]) + "/diff", root_ + "/overlay/l/" + link(words[1]));
		} else if (op == "snapshot-outside") {
			outsideBefore_ = lw::test::snapshotTree(tmp_ / "outside");
		} else if (op == "restart") {
			// restart [pendingcap=N]: a new reader, optionally with a smaller shelf cap
			std::string cap = option("pendingcap");
			restart(cap.empty() ? kDefaultMaxPendingItems : std::stoul(cap));
		} else if (op == "nexttick") {
			nextTick();
		} else if (op == "scan") {
			events_ = reconciler_->rescan();
			checkInvariant();
		} else if (op == "expect") {
			expect(words, line);
		} else {
			FAIL("unknown step " << op);
		}
	}

private:
	// A reader starting afresh on the store as it is: new store, new reconciler.
	void restart(std::size_t maxPendingItems = kDefaultMaxPendingItems)
	{
		reconciler_.reset();
		store_ = std::make_unique<Store>();
		reconciler_ = std::make_unique<Reconciler>(rootFd_.get(), *store_,
							   ReconcileOptions{.maxPendingItems = maxPendingItems});
	}

	// Until the filesystem's clock has moved on: files made after this have later
	// timestamps than files made before (they may share a coarse tick otherwise).
	void nextTick()
	{
		auto stamp = [&] {
			lw::test::writeFile(tmp_ / "tick", "");
			struct statx st;
			REQUIRE(::statx(AT_FDCWD, (tmp_ / "tick").c_str(), 0, STATX_CTIME | STATX_BTIME, &st) == 0);
			auto t = (st.stx_mask & STATX_BTIME) ? st.stx_btime : st.stx_ctime;
			::unlink((tmp_ / "tick").c_str());
			return std::pair{t.tv_sec, t.tv_nsec};
		};
		auto first = stamp();
		REQUIRE(lw::test::eventually([&] { return stamp() != first; }, std::chrono::seconds(2)));
	}

	UniqueFd unwrapFd() { return lw::test::unwrap(openRoot(root_)); }

	std::string id(const std::string &name)
	{
		auto [it, inserted] = ids_.try_emplace(name, "");
		if (inserted)
			it->second = lw::test::makeId();
		return it->second;
	}
	std::string link(const std::string &name) { return id(name).substr(0, 26); }

	// {X} -> id of X, {link:X} -> link of X, {outside} -> the outside folder.
	std::string subst(const std::string &text)
	{
		std::string out;
		for (std::size_t i = 0; i < text.size();) {
			auto close = text[i] == '{' ? text.find('}', i) : std::string::npos;
			if (close != std::string::npos) {
				std::string key = text.substr(i + 1, close - i - 1);
				if (key == "outside")
					out += tmp_ / "outside";
				else if (key.rfind("link:", 0) == 0)
					out += link(key.substr(5));
				else
					out += id(key);
				i = close + 1;
			} else {
				out += text[i++];
			}
		}
		return out;
	}

	std::string imageDir(const std::string &name)
	{
		std::string dir = root_ + "/overlay-images/" + id(name);
		lw::test::makeDirs(dir);
		return dir;
	}

	void writeOverlay(const std::string &name, const std::string &parentId, const std::string &linkOverride)
	{
		std::string dir = root_ + "/overlay/RO/" + id(name);
		lw::test::makeDirs(dir + "/diff");
		lw::test::writeFile(dir + "/link", linkOverride.empty() ? link(name) : linkOverride);
		if (parentId.empty()) {
			lw::test::makeDirs(dir + "/empty");
			return;
		}
		// The parent's link and lower as this script made them, so that a child can
		// be written before its parent (which then counts as a base layer).
		std::string lower = "l/" + parentId.substr(0, 26);
		if (auto it = lowers_.find(parentId); it != lowers_.end() && !it->second.empty())
			lower += ":" + it->second;
		lowers_[id(name)] = lower;
		lw::test::writeFile(dir + "/lower", lower);
	}

	void writeLayerJson(const std::string &name, const std::string &parentId, const std::string &idOverride,
			    bool writable, bool incomplete, bool tarSplit)
	{
		std::string dir = root_ + "/overlay-layers/RO/" + id(name);
		lw::test::makeDirs(dir);
		LayerRecord r;
		r.id = idOverride.empty() ? id(name) : idOverride;
		r.parent = parentId;
		r.writable = writable;
		r.incomplete = incomplete;
		r.diffDigest = "sha256:" + id(name);
		if (tarSplit)
			lw::test::writeFile(dir + "/" + id(name) + ".tar-split.gz", "gz");
		lw::test::writeFile(dir + "/layer.json", toJson(r));
	}

	void writeImageJson(const std::string &name, const std::string &top, const std::string &names,
			    const std::string &idOverride)
	{
		ImageRecord r;
		r.id = idOverride.empty() ? id(name) : idOverride;
		r.layer = top;
		std::stringstream ss(names);
		for (std::string n; std::getline(ss, n, ',');)
			r.names.push_back(n);
		r.digest = "sha256:" + std::string(64, 'd');
		r.bigDataNames = {"sha256:" + id(name), "manifest"};
		lw::test::writeFile(imageDir(name) + "/images.json", toJson(r));
	}

	void writeConfig(const std::string &name)
	{
		lw::test::writeFile(imageDir(name) + "/" + bigDataFileName("sha256:" + id(name)), "{}");
	}

	std::string nameOf(const std::string &ident)
	{
		for (const auto &[name, value] : ids_)
			if (value == ident)
				return name;
		return ident.substr(0, 12);
	}

	std::vector<std::string> sortedNames(std::vector<std::string> names)
	{
		std::sort(names.begin(), names.end());
		return names;
	}

	void expect(const std::vector<std::string> &words, const std::string &line)
	{
		const std::string &what = words.at(1);
		Snapshot snap = store_->snapshot();
		if (what == "events") {
			// expect events layer_added A, image_added I   (pending events aside)
			std::vector<std::string> got, want;
			for (const auto &e : events_)
				if (e.type != EventType::Pending && e.type != EventType::Error)
					got.push_back(std::string(eventName(e.type)) + " " + nameOf(e.id));
			std::stringstream ss(restAfter(line, 2));
			for (std::string item; std::getline(ss, item, ',');) {
				auto w = split(item);
				if (w.size() == 2)
					want.push_back(w[0] + " " + w[1]);
			}
			auto join = [](const std::vector<std::string> &v) {
				std::string out;
				for (const auto &s : v)
					out += (out.empty() ? "" : ", ") + s;
				return out;
			};
			CHECK(join(got) == join(want));
		} else if (what == "layers" || what == "images") {
			std::vector<std::string> got, want(words.begin() + 2, words.end());
			if (what == "layers")
				for (const auto &l : snap.layers())
					got.push_back(nameOf(l->id));
			else
				for (const auto &i : snap.images())
					got.push_back(nameOf(i->id));
			std::string gotText, wantText;
			for (const auto &n : sortedNames(got))
				gotText += n + " ";
			for (const auto &n : sortedNames(want))
				wantText += n + " ";
			CHECK(gotText == wantText);
		} else if (what == "pending") {
			// expect pending KIND NAME REASON...
			std::string actual = "(not pending)";
			for (const auto &p : reconciler_->pending())
				if (name(p.kind) == words[2] && p.id == id(words[3]))
					actual = p.reason;
			CHECK(actual == subst(restAfter(line, 4)));
		} else if (what == "notpending") {
			for (const auto &p : reconciler_->pending())
				CHECK_MESSAGE(p.id != id(words[2]), name(p.kind) << " " << words[2] << ": " << p.reason);
		} else if (what == "pendingevents") {
			// expect pendingevents N: in the last scan's events
			CHECK(std::count_if(events_.begin(), events_.end(),
					    [&](const Event &e) { return e.type == EventType::Pending; }) == std::stol(words[2]));
		} else if (what == "shelvedcount") {
			auto all = reconciler_->pending();
			CHECK(std::count_if(all.begin(), all.end(), [](const PendingItem &p) {
				      return p.reason.rfind("not read in full", 0) == 0;
			      }) == std::stol(words[2]));
		} else if (what == "pendingcount") {
			CHECK(reconciler_->pending().size() == std::stoul(words[2]));
			CHECK(reconciler_->pendingCount() == std::stoul(words[2]));
		} else if (what == "links") {
			// expect links X: all three local links of X are there and right
			std::string i = id(words[2]);
			CHECK(lw::test::readLinkAt(root_ + "/overlay/" + i) == "RO/" + i);
			CHECK(lw::test::readLinkAt(root_ + "/overlay-layers/" + i) == "RO/" + i);
			CHECK(lw::test::readLinkAt(root_ + "/overlay/l/" + link(words[2])) == "../" + i + "/diff");
		} else if (what == "shortlink") {
			// expect shortlink L X: overlay/l/L leads to X's diff
			CHECK(lw::test::readLinkAt(root_ + "/overlay/l/" + subst(words[2])) == "../" + id(words[3]) + "/diff");
		} else if (what == "nolinks") {
			std::string i = id(words[2]);
			CHECK_FALSE(lw::test::exists(root_ + "/overlay/" + i));
			CHECK_FALSE(lw::test::exists(root_ + "/overlay-layers/" + i));
			CHECK_FALSE(lw::test::exists(root_ + "/overlay/l/" + link(words[2])));
		} else if (what == "rw-intact") {
			std::string i = id(words[2]);
			struct stat st;
			CHECK((::lstat((root_ + "/overlay/" + i + "/diff").c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
			CHECK((::lstat((root_ + "/overlay-layers/" + i).c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
			CHECK(lw::test::readLinkAt(root_ + "/overlay/l/" + link(words[2])) == "../" + i + "/diff");
		} else if (what == "outside-unchanged") {
			CHECK(lw::test::snapshotTree(tmp_ / "outside") == outsideBefore_);
		} else if (what == "names") {
			auto image = snap.image(id(words[2]));
			REQUIRE(image);
			CHECK(image->names == std::vector<std::string>(words.begin() + 3, words.end()));
		} else {
			FAIL("unknown expectation " << what);
		}
	}

	// At every instant, every visible image's whole chain is visible.
	void checkInvariant()
	{
		Snapshot snap = store_->snapshot();
		for (const auto &image : snap.images()) {
			auto chain = snap.chain(image->id);
			REQUIRE_FALSE(chain.empty());
			CHECK(chain.back()->parent.empty());
		}
		for (const auto &layer : snap.layers())
			if (!layer->parent.empty())
				CHECK(snap.layer(layer->parent));
	}

	std::string name_;
	lw::test::TempDir tmp_;
	std::string root_;
	UniqueFd rootFd_;
	std::unique_ptr<Store> store_;
	std::unique_ptr<Reconciler> reconciler_;
	std::map<std::string, std::string> ids_;
	std::vector<Event> events_;
	std::map<std::string, std::string> outsideBefore_;
	std::map<std::string, std::string> lowers_; // id -> lower written
};

std::vector<std::string> scenarioFiles()
{
	std::string dir = LW_SOURCE_DIR "/test/scenarios";
	std::vector<std::string> files;
	if (DIR *d = ::opendir(dir.c_str())) {
		while (auto *e = ::readdir(d)) {
			std::string name = e->d_name;
			if (name.size() > 4 && name.substr(name.size() - 4) == ".scn")
				files.push_back(dir + "/" + name);
		}
		::closedir(d);
	}
	std::sort(files.begin(), files.end());
	return files;
}

} // namespace

TEST_CASE("scenarios")
{
	auto files = scenarioFiles();
	REQUIRE(files.size() >= 3);
	int scenarios = 0;
	for (const auto &file : files) {
		std::ifstream in(file);
		std::unique_ptr<Scenario> current;
		int lineNo = 0;
		for (std::string line; std::getline(in, line);) {
			++lineNo;
			if (line.rfind("scenario ", 0) == 0) {
				current = std::make_unique<Scenario>(file.substr(file.rfind('/') + 1) + ": " + line.substr(9));
				++scenarios;
				continue;
			}
			if (current)
				current->step(lineNo, line);
		}
	}
	MESSAGE(scenarios << " scenarios run");
	CHECK(scenarios >= 20);
}

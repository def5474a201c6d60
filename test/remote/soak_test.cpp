// Several hosts on one share: N `layerwatch watch` processes, each behind its own
// netsim mount (its own caches: 200 µs a round trip, attributes and listings kept
// 1 s), follow a writer that pulls images over shared base layers, removes some, and
// is killed with -9 at random moments. One reader is killed with -9 midway and
// started again; readers' servers fail one item's paths with EIO or ESTALE for a
// moment. Checked for every reader:
//   - no image or layer reported that the share never held ready (no half pull);
//   - no removal the writer did not make (per id, a reader removes an item at most as
//     often as the writer removed it);
//   - convergence to a scan of the share within interval + 2 s after the writer stops;
//   - local links exactly those of its ready layers.
// The short run is the `soak` test; LW_SOAK_SECONDS, LW_SOAK_READERS, LW_SOAK_SEED
// and LW_SOAK_FAULTS=0 change it (the long run: 8 readers, 600 s).
#include "child_process.h"
#include "netsim_mount.h"
#include "test_support.h"

#include <layerwatch/scan.h>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace lw;
using lw::test::ChildProcess;
using lw::test::NetsimMount;
using namespace std::chrono_literals;

namespace {

constexpr std::array<const char *, 3> kTrees = {"overlay/RO", "overlay-layers/RO", "overlay-images"};
constexpr std::uint32_t kIntervalMs = 1000;
const std::vector<std::vector<std::string>> kBaseChains = {
	{}, {"base-a"}, {"base-a", "base-b"}, {"base-a", "base-b", "base-c"}, {"base-b"}};

long envOr(const char *name, long fallback)
{
	const char *v = std::getenv(name);
	return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

// What the share holds ready, by a scan of the server's folder.
struct Ready {
	std::set<std::string> images, layers;
	bool operator==(const Ready &) const = default;
};

Ready scanReady(const std::string &root)
{
	Ready r;
	auto report = lw::test::unwrap(scanStore(root));
	for (const auto &i : report.images)
		r.images.insert(i.image->id);
	for (const auto &l : report.layers)
		r.layers.insert(l->id);
	return r;
}

// The writer's record: what ever became ready on the share, and how many times each
// id left it. Kept by comparing scans before and after each of its commands (it is
// the only writer, so nothing else changes the share meanwhile).
struct WriterRecord {
	std::set<std::string> everImages, everLayers;
	std::map<std::string, int> removedImages, removedLayers;
	int pulls = 0, killedPulls = 0, removals = 0, killedRemovals = 0;

	std::vector<std::string> story; // one line per command: what it did to the share

	std::string storyOf(const std::string &id) const
	{
		std::string out;
		for (const auto &line : story)
			if (line.find(id) != std::string::npos)
				out += line + "\n";
		return out;
	}

	void note(const std::string &command, const Ready &before, const Ready &after)
	{
		auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::system_clock::now().time_since_epoch()).count();
		for (const auto &id : after.images)
			if (!before.images.count(id))
				story.push_back(fmt::format("{} {}: image {} ready", stamp, command, id));
		for (const auto &id : before.images)
			if (!after.images.count(id))
				story.push_back(fmt::format("{} {}: image {} gone", stamp, command, id));
		for (const auto &id : after.layers)
			if (!before.layers.count(id))
				story.push_back(fmt::format("{} {}: layer {} ready", stamp, command, id));
		for (const auto &id : before.layers)
			if (!after.layers.count(id))
				story.push_back(fmt::format("{} {}: layer {} gone", stamp, command, id));
		everImages.insert(after.images.begin(), after.images.end());
		everLayers.insert(after.layers.begin(), after.layers.end());
		for (const auto &id : before.images)
			if (!after.images.count(id))
				++removedImages[id];
		for (const auto &id : before.layers)
			if (!after.layers.count(id))
				++removedLayers[id];
	}
};

// One reader host: its local root, its three mounts, and its `watch` process, whose
// JSON lines a thread folds into the state it reports.
class Reader {
public:
	Reader(const std::string &server, std::string root) : root_(std::move(root))
	{
		for (auto tree : kTrees) {
			lw::test::makeDirs(root_ + "/" + tree);
			mounts_.push_back(std::make_unique<NetsimMount>(server + "/" + tree, root_ + "/" + tree,
									lw::test::NetsimOptions{.delayUs = 200, .attrTimeout = 1}));
			if (!mounts_.back()->mounted())
				lw::test::skipTest("netsim could not mount (FUSE)");
		}
		start();
	}
	~Reader()
	{
		stopReading();
		mounts_.clear();
	}

	void start()
	{
		std::lock_guard lock(mutex_);
		state_ = {};
		ready_ = false;
		process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
			LAYERWATCH, "watch", "--root", root_, "--json", "--interval", std::to_string(kIntervalMs)});
		done_ = false;
		thread_ = std::thread([this, p = process_.get()] { readLines(p); });
	}
	// kill -9, as a host crash would, then a fresh process on the same root.
	void killAndRestart()
	{
		::kill(process_->pid(), SIGKILL);
		stopReading();
		start();
	}
	bool waitReady(std::chrono::milliseconds timeout)
	{
		return lw::test::eventually([&] { return std::lock_guard(mutex_), ready_; }, timeout);
	}
	Ready state() const { return std::lock_guard(mutex_), state_; }
	std::vector<std::string> problems() const { return std::lock_guard(mutex_), problems_; }
	std::map<std::string, int> removedImages() const { return std::lock_guard(mutex_), removedImages_; }
	std::map<std::string, int> removedLayers() const { return std::lock_guard(mutex_), removedLayers_; }
	std::set<std::string> addedImages() const { return std::lock_guard(mutex_), addedImages_; }
	std::set<std::string> addedLayers() const { return std::lock_guard(mutex_), addedLayers_; }
	NetsimMount &mount(std::size_t i) { return *mounts_[i]; }
	const std::string &root() const { return root_; }

	void stopReading()
	{
		if (!thread_.joinable())
			return;
		done_ = true;
		::kill(process_->pid(), SIGKILL);
		thread_.join();
		process_.reset();
	}

private:
	void readLines(ChildProcess *p)
	{
		std::string line;
		while (!done_) {
			if (!p->readLine(line, 200ms))
				continue;
			rapidjson::Document doc;
			doc.Parse(line.c_str());
			if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("event"))
				continue;
			std::string event = doc["event"].GetString();
			std::string id = doc.HasMember("id") && doc["id"].IsString() ? doc["id"].GetString() : "";
			std::lock_guard lock(mutex_);
			lines_.push_back(line);
			if (event == "ready")
				ready_ = true;
			else if (event == "image_added")
				state_.images.insert(id), addedImages_.insert(id);
			else if (event == "layer_added")
				state_.layers.insert(id), addedLayers_.insert(id);
			else if (event == "image_removed")
				state_.images.erase(id), ++removedImages_[id];
			else if (event == "layer_removed")
				state_.layers.erase(id), ++removedLayers_[id];
			else if (event == "stopped")
				problems_.push_back("stopped unasked");
		}
	}

	std::string root_;
	std::vector<std::unique_ptr<NetsimMount>> mounts_;
	std::unique_ptr<ChildProcess> process_;
	std::thread thread_;
	std::atomic<bool> done_{false};
	mutable std::mutex mutex_;
	Ready state_;
	bool ready_ = false;
	std::set<std::string> addedImages_, addedLayers_;
	std::map<std::string, int> removedImages_, removedLayers_;
	std::vector<std::string> problems_;
	std::vector<std::string> lines_;

public:
	// Its lines that mention text, for a failure's story.
	std::string linesWith(const std::string &text) const
	{
		std::lock_guard lock(mutex_);
		std::string out;
		for (const auto &l : lines_)
			if (l.find(text) != std::string::npos)
				out += l + "\n";
		return out;
	}
	// An image's lines and, in one story, its top layer's: a spurious removal of an
	// image may come from its layer leaving and coming back.
	std::string imageStory(const std::string &image) const
	{
		std::string lines = linesWith(image);
		const std::string field = "\"top_layer\":\"";
		auto at = lines.find(field);
		if (at == std::string::npos || lines.size() < at + field.size() + 64)
			return lines;
		return "top layer's lines (and the image's):\n" + linesWith(lines.substr(at + field.size(), 64));
	}
};

// Runs one writer command, killed with -9 after killAfter if it is still running.
// Returns false if the kill cut it short.
bool runWriter(const std::vector<std::string> &argv, std::optional<std::chrono::milliseconds> killAfter)
{
	ChildProcess child(argv);
	if (killAfter) {
		std::this_thread::sleep_for(*killAfter);
		::kill(child.pid(), SIGKILL);
	}
	int status = child.wait(60s);
	REQUIRE(status != -1);
	return status != 128 + SIGKILL;
}

// The local links a reader must have: l/<link> -> ../<id>/diff and overlay/<id>,
// overlay-layers/<id> -> RO/<id>, for each ready layer, and no other link into RO/.
void checkLinks(const std::string &server, const Reader &reader, const Ready &ready)
{
	std::map<std::string, std::string> wanted;
	for (const auto &id : ready.layers)
		wanted[lw::test::readFile(server + "/overlay/RO/" + id + "/link")] = "../" + id + "/diff";
	std::map<std::string, std::string> shortLinks;
	for (const auto &entry : std::filesystem::directory_iterator(reader.root() + "/overlay/l"))
		shortLinks[entry.path().filename()] = lw::test::readLinkAt(entry.path());
	for (const auto &[name, target] : shortLinks)
		CHECK_MESSAGE(wanted.count(name), "l/" << name << " -> " << target << ": no ready layer has it ("
							 << std::string(ready.layers.count(target.substr(3, 64))
										? "its layer is ready under another link"
										: "its layer is not ready")
							 << ")\n" << reader.linesWith(target.substr(3, 64)));
	for (const auto &[name, target] : wanted)
		CHECK_MESSAGE(shortLinks[name] == target, "l/" << name << " -> " << shortLinks[name] << ", wanted " << target);
	for (const auto &id : ready.layers) {
		CHECK(lw::test::readLinkAt(reader.root() + "/overlay/" + id) == "RO/" + id);
		CHECK(lw::test::readLinkAt(reader.root() + "/overlay-layers/" + id) == "RO/" + id);
	}
}

} // namespace

TEST_CASE("several hosts on one share: no half pull, no spurious removal, every reader converges")
{
	if (lw::test::netsimPath().empty())
		lw::test::skipTest("netsim was not built (no libfuse3)");
	const long seconds = envOr("LW_SOAK_SECONDS", 30 / lw::test::kSlowdown);
	const long readers = envOr("LW_SOAK_READERS", 3);
	const unsigned seed = static_cast<unsigned>(envOr("LW_SOAK_SEED", std::random_device{}()));
	const bool faults = envOr("LW_SOAK_FAULTS", 1) != 0;
	MESSAGE("soak: " << readers << " readers, " << seconds << " s, seed " << seed << ", faults "
			 << std::string(faults ? "on" : "off"));
	std::mt19937 random(seed);

	lw::test::TempDir tmp;
	for (std::string base : {"base-a", "base-b", "base-c"}) {
		lw::test::makeDirs(tmp / (base + "/etc"));
		lw::test::writeFile(tmp / (base + "/etc/os-release"), base);
	}
	std::string server = tmp / "server";
	for (auto dir : {"overlay/RO", "overlay/l", "overlay-layers/RO", "overlay-images"})
		lw::test::makeDirs(server + "/" + dir);
	std::vector<std::unique_ptr<Reader>> hosts;
	for (long i = 0; i < readers; ++i)
		hosts.push_back(std::make_unique<Reader>(server, tmp / ("reader" + std::to_string(i))));
	for (auto &h : hosts)
		REQUIRE(h->waitReady(30s));

	WriterRecord record;
	Ready shared = scanReady(server);
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
	bool restarted = false;
	int name = 0;
	std::set<std::string> names;
	std::string lastCommand;
	while (std::chrono::steady_clock::now() < deadline) {
		int dice = static_cast<int>(random() % 100);
		std::optional<std::chrono::milliseconds> kill;
		if (random() % 5 == 0)
			kill = std::chrono::milliseconds(random() % 40);
		if (dice < 65 || names.empty()) {
			// A pull: its own top layer over one of a few base chains, which images
			// share (publish gives equal contents over an equal parent one id).
			std::string tag = "app:" + std::to_string(++name);
			std::vector<std::string> argv = {LAYERWATCH, "publish", "--root", server, "--name", tag};
			for (const auto &base : kBaseChains[random() % kBaseChains.size()])
				argv.insert(argv.end(), {"--layer-dir", tmp / base});
			std::string own = tmp / ("content-" + std::to_string(name));
			lw::test::makeDirs(own);
			// Half the pulls bring one of a few app layers already seen: a layer the
			// writer removed comes back under its id, with a new link.
			lw::test::writeFile(own + "/app", random() % 2 ? tag : "app-" + std::to_string(random() % 3));
			argv.insert(argv.end(), {"--layer-dir", own});
			bool done = runWriter(argv, kill);
			lastCommand = "publish " + tag + (done ? "" : " (killed)");
			++record.pulls;
			record.killedPulls += done ? 0 : 1;
			names.insert(tag);
		} else {
			auto it = std::next(names.begin(), static_cast<long>(random() % names.size()));
			bool done = runWriter({LAYERWATCH, "rmi", "--root", server, *it}, kill);
			lastCommand = "rmi " + *it + (done ? "" : " (killed)");
			++record.removals;
			record.killedRemovals += done ? 0 : 1;
			names.erase(it);
		}
		Ready after = scanReady(server);
		record.note(lastCommand, shared, after);
		shared = after;

		if (faults && random() % 4 == 0 && !shared.layers.empty()) {
			// One reader's server fails one item's paths for a moment.
			auto &host = *hosts[random() % hosts.size()];
			auto id = *std::next(shared.layers.begin(), static_cast<long>(random() % shared.layers.size()));
			int err = random() % 2 ? EIO : ESTALE;
			std::size_t tree = random() % 2;
			host.mount(tree).control("fail " + std::to_string(err) + " " + id);
			std::this_thread::sleep_for(std::chrono::milliseconds(200 + random() % 600));
			host.mount(tree).control("clear");
		}
		if (!restarted && std::chrono::steady_clock::now() > deadline - std::chrono::seconds(seconds / 2)) {
			hosts[0]->killAndRestart();
			REQUIRE(hosts[0]->waitReady(30s));
			restarted = true;
		}
	}
	MESSAGE("writer: " << record.pulls << " pulls (" << record.killedPulls << " killed), " << record.removals
			   << " removals (" << record.killedRemovals << " killed); share now " << shared.images.size()
			   << " images, " << shared.layers.size() << " layers");
	CHECK(record.pulls > 5);

	const auto settle = std::chrono::milliseconds(kIntervalMs + 2000) * lw::test::kSlowdown;
	for (std::size_t i = 0; i < hosts.size(); ++i) {
		INFO("reader " << i);
		auto &host = *hosts[i];
		CHECK(lw::test::eventually([&] { return host.state() == shared; }, settle));
		CHECK(host.problems().empty());
		for (const auto &id : host.addedImages())
			CHECK_MESSAGE(record.everImages.count(id), "image " << id << " reported, never ready on the share");
		for (const auto &id : host.addedLayers())
			CHECK_MESSAGE(record.everLayers.count(id), "layer " << id << " reported, never ready on the share");
		for (const auto &[id, n] : host.removedImages())
			CHECK_MESSAGE(n <= record.removedImages[id], "image " << id << " removed " << n << " times, by the writer "
									 << record.removedImages[id] << "\n" << host.imageStory(id)
									 << "writer:\n" << record.storyOf(id));
		for (const auto &[id, n] : host.removedLayers())
			CHECK_MESSAGE(n <= record.removedLayers[id], "layer " << id << " removed " << n << " times, by the writer "
									 << record.removedLayers[id] << "\n" << host.linesWith(id)
									 << "writer:\n" << record.storyOf(id));
		host.stopReading();
		checkLinks(server, host, shared);
	}
}

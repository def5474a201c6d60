// The program's pure parts: option parsing, terminal escaping, image references and
// the metrics text (checked by a strict parser of Prometheus' text format).
#include "metrics.h"
#include "options.h"
#include "prometheus_parser.h"
#include "reference.h"
#include "text_out.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

using namespace lwcli;

namespace {

struct Parsed {
	std::optional<int> done;
	std::string root, mode;
	bool json = false, verbose = false;
	std::vector<std::string> names, positional;
};

Parsed parse(std::vector<std::string> args, std::size_t maxPositional = 1)
{
	Parsed p;
	RootChoice choice;
	auto options = rootOptions(choice);
	options.insert(options.end(), {flag("--json", 'j', p.json), flag("--verbose", 'v', p.verbose), text("--mode", 'm', p.mode)});
	options.push_back({"--name", 't', true, [&](const std::string &v) {
				   p.names.push_back(v);
				   return 0;
			   }});
	p.done = parseArgs("test", args, options, "help\n", &p.positional, maxPositional);
	p.root = choice.root;
	return p;
}

} // namespace

TEST_CASE("options: --opt=value, --opt value, -o value, -ovalue, bundled flags, --")
{
	auto p = parse({"--root=/a", "--mode", "poll", "-jv", "-t", "x:1", "-ty:2", "--name=z:3", "target"});
	CHECK_FALSE(p.done);
	CHECK(p.root == "/a");
	CHECK(p.mode == "poll");
	CHECK(p.json);
	CHECK(p.verbose);
	CHECK(p.names == std::vector<std::string>{"x:1", "y:2", "z:3"});
	CHECK(p.positional == std::vector<std::string>{"target"});

	p = parse({"-r", "/b", "-jm", "inotify"});
	CHECK_FALSE(p.done);
	CHECK(p.root == "/b");
	CHECK(p.mode == "inotify");

	p = parse({"--", "--json"});
	CHECK_FALSE(p.done);
	CHECK_FALSE(p.json);
	CHECK(p.positional == std::vector<std::string>{"--json"});
	// A value may hold '=' and start with '-' when it follows its option.
	p = parse({"--root", "-x=y"});
	CHECK(p.root == "-x=y");
}

TEST_CASE("options: every misuse is a usage error (2)")
{
	for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
		     {"--json=1"}, {"--root"}, {"--root="}, {"-r"}, {"--bogus"}, {"-x"}, {"-jx"}, {"a", "b"}, {"--ro", "/a"}}) {
		INFO(args.front());
		CHECK(parse(args).done == 2);
	}
	CHECK(parse({"--mode", "poll", "-h"}).done == 0);
	CHECK(parse({"x"}, 0).done == 2);
}

TEST_CASE("printable: no control character reaches the terminal")
{
	using namespace std::string_literals;
	CHECK(printable("busybox:latest") == "busybox:latest");
	CHECK(printable("a\0b"s) == "a\\x00b");
	CHECK(printable("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07");
	CHECK(printable("tab\there\nnl\x7f") == "tab\\x09here\\x0anl\\x7f");
	CHECK(printable("back\\slash") == "back\\\\slash");
	CHECK(printable("caf\xc3\xa9 \xe6\x97\xa5") == "caf\xc3\xa9 \xe6\x97\xa5"); // UTF-8 kept
	CHECK(printable("\xc2\x9b" "31m") == "\\u{009b}31m");                     // C1 CSI
	CHECK(printable("\xe2\x80\xae" "gpj.exe") == "\\u{202e}gpj.exe");          // right-to-left override
	CHECK(printable("\xff\xc3") == "\\xff\\xc3");                              // invalid, cut short
	CHECK(printable("\xc0\x80") == "\\xc0\\x80");                              // overlong NUL
	CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");                     // a surrogate
}

TEST_CASE("image references: docker's grammar, app means app:latest")
{
	CHECK(normalizedReference("app") == "app:latest");
	CHECK(normalizedReference("app:9") == "app:9");
	CHECK(normalizedReference("library/busybox:1.36") == "library/busybox:1.36");
	CHECK(normalizedReference("docker.io/library/busybox") == "docker.io/library/busybox:latest");
	CHECK(normalizedReference("localhost:5000/a/b_c__d-e:V1.0-rc") == "localhost:5000/a/b_c__d-e:V1.0-rc");
	CHECK(normalizedReference("Registry.Example.com/app:1") == "Registry.Example.com/app:1");
	CHECK(normalizedReference("app@sha256:" + std::string(64, 'a')) == "app@sha256:" + std::string(64, 'a'));
	for (const char *bad : {"", "bad name", "UPPER:Case", "app/Upper", "app:", ":tag", "app:-x", "a//b", "a/", "-a",
				"app:tag\n", "app@sha256:abc"})
		CHECK_MESSAGE(!normalizedReference(bad), bad);
	CHECK_FALSE(normalizedReference("app:" + std::string(129, 't')));
	CHECK(normalizedReference("app:" + std::string(128, 't')));
	CHECK_FALSE(normalizedReference(std::string(256, 'a')));
	CHECK(normalizedReference("Library/app") == "Library/app:latest"); // a capital: a domain, as docker has it
	CHECK_FALSE(normalizedReference("Bad_Host/app"));
	CHECK(normalizedReference("x/a-b--c__d.e_f") == "x/a-b--c__d.e_f:latest");
	CHECK_FALSE(normalizedReference("a_b.c/g")); // a dot: a domain, and no "_" in one
	CHECK_FALSE(normalizedReference("a___b"));
	CHECK_FALSE(normalizedReference("a._b"));
	CHECK_FALSE(normalizedReference("localhost:/app"));
	CHECK_FALSE(normalizedReference("app@sha256" + std::string(64, 'a')));
	CHECK_FALSE(normalizedReference("app@1sha:" + std::string(64, 'a')));
	// Linear: a long run that fails at its end is refused at once (std::regex took
	// seconds for 26 letters).
	auto start = std::chrono::steady_clock::now();
	CHECK_FALSE(normalizedReference(std::string(200, 'a') + "!"));
	CHECK_FALSE(normalizedReference(std::string(250, 'a') + "-" + std::string(4000, 'b')));
	CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(100));
}

TEST_CASE("metrics: strict Prometheus text, the counts as given, label values escaped")
{
	MetricsView view{.root = "/var/lib/isulad/storage \"x\"\\\n", .ready = true, .images = 3, .layers = 7,
			 .pendingOverlays = 1, .pendingLayers = 0, .pendingImages = 2};
	view.stats.kernelEvents = 42;
	view.stats.lastRescanUs = 1500;
	view.stats.backend = "inotify";
	auto text = prometheusText(view);
	auto parsed = lw::test::parsePrometheus(text);
	REQUIRE_MESSAGE(parsed.error.empty(), parsed.error);
	CHECK(parsed.value("layerwatch_images") == 3);
	CHECK(parsed.value("layerwatch_layers") == 7);
	CHECK(parsed.value("layerwatch_pending{kind=\"overlay\"}") == 1);
	CHECK(parsed.value("layerwatch_pending{kind=\"image\"}") == 2);
	CHECK(parsed.value("layerwatch_kernel_events_total") == 42);
	CHECK(parsed.value("layerwatch_last_rescan_duration_seconds") == doctest::Approx(0.0015));
	CHECK(parsed.value("layerwatch_ready") == 1);
	CHECK(parsed.types.at("layerwatch_kernel_events_total") == "counter");
	CHECK(parsed.labels("layerwatch_info").at("root") == view.root);
	CHECK(parsed.labels("layerwatch_info").at("backend") == "inotify");

	// The parser itself refuses what the format does not allow, and (stricter) a
	// sample without a TYPE.
	for (const char *bad : {"x 1\n", "# TYPE x gauge\nx{a=\"b} 1\n", "# TYPE x gauge\nx one\n", "# TYPE x gauge\nx 1",
				"# TYPE x bogus\nx 1\n", "# TYPE x gauge\n# TYPE x gauge\nx 1\n", "# TYPE x gauge\nx{a=\"\\q\"} 1\n",
				"# TYPE x gauge\nx 1\n# TYPE y gauge\nx 2\n"})
		CHECK_MESSAGE(!lw::test::parsePrometheus(bad).error.empty(), bad);
}

TEST_CASE("metrics file: written aside under a name drawn anew and renamed; nothing planted beside it is written through")
{
	char dir[] = "/tmp/lw-metrics-XXXXXX";
	REQUIRE(::mkdtemp(dir));
	std::string path = std::string(dir) + "/layerwatch.prom";
	// Planted where a temporary was once named (a hard link to a file of someone
	// else's: opened there, it would be truncated and written), and a link beside it.
	std::string victim = std::string(dir) + "/victim", other = std::string(dir) + "/other";
	std::FILE *o = std::fopen(other.c_str(), "w");
	REQUIRE(o);
	std::fputs("theirs\n", o);
	std::fclose(o);
	REQUIRE(::link(other.c_str(), (path + ".tmp").c_str()) == 0);
	REQUIRE(::symlink(victim.c_str(), (path + ".tmp-x").c_str()) == 0);
	REQUIRE(writeMetricsFile(path, "a 1\n"));
	REQUIRE(writeMetricsFile(path, "a 2\n"));
	auto read = [](const std::string &p) {
		std::FILE *f = std::fopen(p.c_str(), "r");
		REQUIRE(f);
		char buf[64] = {};
		std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
		std::fclose(f);
		return std::string(buf, n);
	};
	CHECK(read(path) == "a 2\n");
	CHECK(read(other) == "theirs\n");
	CHECK(::access(victim.c_str(), F_OK) != 0);
	// Nothing of ours is left beside it: the two planted entries and the file alone.
	int entries = 0;
	for (const auto &e : std::filesystem::directory_iterator(dir))
		entries += e.path().filename().string().starts_with("layerwatch.prom");
	CHECK(entries == 3);
	std::filesystem::remove_all(dir);
}

// `layerwatch images`: the ready images as `isula images` lists them.
#include "commands.h"
#include "json_out.h"
#include "options.h"
#include "text_out.h"

#include <layerwatch/scan.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <set>

namespace lwcli {

namespace {

constexpr const char *kHelp =
	"usage: layerwatch images (-r R | -c DAEMON_JSON) [-q] [--no-trunc]\n"
	"                         [--format json]\n"
	"\n"
	"Lists the images ready below R as `isula images` does: one row per name\n"
	"(REPOSITORY, TAG), the image id, when it was made (local time) and its size (the\n"
	"sum of its layers' sizes). Reads only, like scan; pending images are not listed\n"
	"(scan shows them with their reasons).\n"
	"\n"
	LW_ROOT_OPTIONS_HELP
	"  -q, --quiet           only the image ids, once each\n"
	"  --no-trunc            whole ids\n"
	"  --format json         one JSON object per row: repository, tag, id, created\n"
	"                        (as images.json has it), size (bytes, or null)\n";

struct Row {
	std::string repository = "<none>", tag = "<none>";
	std::string id, created;
	std::optional<std::int64_t> size;
};

// iSulad's util_tag_pos: the tag follows the last ':' after the last '/'.
void splitName(const std::string &name, Row &row)
{
	std::string ref = name.substr(0, name.find('@'));
	auto colon = ref.rfind(':');
	bool tagged = colon != std::string::npos && ref.find('/', colon) == std::string::npos;
	row.repository = tagged ? ref.substr(0, colon) : ref;
	row.tag = tagged ? ref.substr(colon + 1) : "<none>";
}

// RFC 3339 ("2019-06-15T08:19:54.123Z", "...+08:00") as local "YYYY-MM-DD HH:MM:SS",
// as isula prints it; "-" when it does not parse.
std::string localTime(const std::string &rfc3339)
{
	struct tm tm {};
	const char *rest = ::strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return "-";
	while (*rest == '.' || (*rest >= '0' && *rest <= '9'))
		++rest;
	long offset = 0;
	int hours = 0, minutes = 0;
	if ((*rest == '+' || *rest == '-') && std::sscanf(rest + 1, "%2d:%2d", &hours, &minutes) == 2)
		offset = (*rest == '-' ? -1 : 1) * (hours * 3600L + minutes * 60L);
	else if (*rest != 'Z' && *rest != 'z')
		return "-";
	std::time_t t = ::timegm(&tm) - offset;
	struct tm local;
	if (!::localtime_r(&t, &local))
		return "-";
	char out[32];
	std::strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S", &local);
	return out;
}

// isula's util_human_size_decimal: binary units written as "KB", "MB", "GB".
std::string humanSize(std::optional<std::int64_t> bytes)
{
	if (!bytes)
		return "-";
	double v = static_cast<double>(*bytes);
	if (*bytes >= 1LL << 30)
		return fmt::format("{:.3f}GB", v / (1LL << 30));
	if (*bytes >= 1LL << 20)
		return fmt::format("{:.3f}MB", v / (1LL << 20));
	if (*bytes >= 1LL << 10)
		return fmt::format("{:.3f}KB", v / (1LL << 10));
	return fmt::format("{}B", *bytes);
}

std::vector<Row> rowsOf(const lw::ScanReport &report)
{
	std::vector<Row> rows;
	for (const auto &[image, chain] : report.images) {
		Row row{.id = image->id, .created = image->created};
		// Unknown when a layer does not say, or says something no size can be (the
		// sizes are a share's files: a negative one, or a sum past 2^63).
		std::int64_t sum = 0;
		bool known = true;
		for (const auto &layer : chain)
			known = known && layer->diffSize && *layer->diffSize >= 0 && !__builtin_add_overflow(sum, *layer->diffSize, &sum);
		if (known)
			row.size = sum;
		if (image->names.empty())
			rows.push_back(row);
		for (const auto &name : image->names) {
			splitName(name, row);
			rows.push_back(row);
		}
	}
	return rows;
}

void printTable(const std::vector<Row> &rows, bool noTrunc)
{
	std::vector<std::array<std::string, 5>> cells = {{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}};
	for (const auto &r : rows)
		cells.push_back({printable(r.repository), printable(r.tag), noTrunc ? r.id : r.id.substr(0, 12),
				 localTime(r.created), humanSize(r.size)});
	std::array<std::size_t, 5> width{};
	for (const auto &line : cells)
		for (std::size_t i = 0; i < 5; ++i)
			width[i] = std::max(width[i], line[i].size());
	std::string out;
	for (const auto &line : cells) {
		for (std::size_t i = 0; i < 4; ++i)
			out += fmt::format("{:<{}} ", line[i], width[i]);
		out += line[4] + '\n';
	}
	writeAll(stdout, out);
}

} // namespace

int runImages(const Args &args)
{
	RootChoice choice;
	bool quiet = false, noTrunc = false;
	std::string format;
	auto options = rootOptions(choice);
	options.insert(options.end(), {flag("--quiet", 'q', quiet), flag("--no-trunc", 0, noTrunc), text("--format", 0, format)});
	if (auto done = parseArgs("images", args, options, kHelp))
		return *done;
	if (!format.empty() && format != "json" && format != "table")
		return usageError("images", "--format takes json or table");
	std::string root;
	if (int r = resolveStore("images", choice, root); r != 0)
		return r;
	auto report = lw::scanStore(root);
	if (!report) {
		std::fprintf(stderr, "layerwatch images: %s\n", printable(report.error().message).c_str());
		return 1;
	}
	for (const auto &e : report->errors)
		writeAll(stderr, fmt::format("layerwatch images: {}: {}\n", printable(root), printable(e)));
	auto rows = rowsOf(*report);
	if (quiet) {
		std::set<std::string> told;
		for (const auto &r : rows)
			if (told.insert(r.id).second)
				std::printf("%s\n", noTrunc ? r.id.c_str() : r.id.substr(0, 12).c_str());
	} else if (format == "json") {
		for (const auto &r : rows) {
			JsonOut out;
			out.w().StartObject();
			out.field("repository", r.repository);
			out.field("tag", r.tag);
			out.field("id", r.id);
			out.field("created", r.created);
			out.key("size");
			if (r.size)
				out.w().Int64(*r.size);
			else
				out.w().Null();
			out.w().EndObject();
			std::printf("%s\n", out.str().c_str());
		}
	} else {
		printTable(rows, noTrunc);
	}
	return report->errors.empty() ? 0 : 1;
}

} // namespace lwcli

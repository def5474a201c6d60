// The lw_* handle API: a watcher with callbacks and store queries for C hosts. Each
// function is a boundary that no exception crosses.
#include <layerwatch/layerwatch.h>

#include "c_support.h"

#include <layerwatch/watcher.h>

#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>

struct lw_watcher {
	std::unique_ptr<lw::Watcher> watcher;
	lw_options options;
};

namespace {

using lw::capi::failed;
using lw::capi::guarded;

char *copyString(const std::string &s)
{
	char *out = static_cast<char *>(std::malloc(s.size() + 1));
	if (!out)
		throw std::bad_alloc();
	std::memcpy(out, s.c_str(), s.size() + 1);
	return out;
}

char **copyStrings(const std::vector<std::string> &strings)
{
	char **out = static_cast<char **>(std::calloc(strings.size() + 1, sizeof(char *)));
	if (!out)
		throw std::bad_alloc();
	for (std::size_t i = 0; i < strings.size(); ++i) {
		try {
			out[i] = copyString(strings[i]);
		} catch (...) {
			lw_strv_free(out, i);
			throw;
		}
	}
	return out;
}

void fillImage(lw_image &out, const lw::ImageInfo &image)
{
	out = {};
	try {
		out.id = copyString(image.id);
		out.top_layer = copyString(image.topLayer);
		out.digest = copyString(image.digest);
		out.names = copyStrings(image.names);
		out.names_len = image.names.size();
	} catch (...) {
		std::free(out.id);
		std::free(out.top_layer);
		std::free(out.digest);
		out = {};
		throw;
	}
}

void clearImage(lw_image &image)
{
	std::free(image.id);
	std::free(image.top_layer);
	std::free(image.digest);
	lw_strv_free(image.names, image.names_len);
	image = {};
}

// The C enum is the C++ one, value for value: a cast, checked here once.
lw_event_type cType(lw::EventType type)
{
	static_assert(LW_EVENT_LAYER_ADDED == static_cast<int>(lw::EventType::LayerAdded));
	static_assert(LW_EVENT_LAYER_REMOVED == static_cast<int>(lw::EventType::LayerRemoved));
	static_assert(LW_EVENT_IMAGE_ADDED == static_cast<int>(lw::EventType::ImageAdded));
	static_assert(LW_EVENT_IMAGE_UPDATED == static_cast<int>(lw::EventType::ImageUpdated));
	static_assert(LW_EVENT_IMAGE_REMOVED == static_cast<int>(lw::EventType::ImageRemoved));
	static_assert(LW_EVENT_PENDING == static_cast<int>(lw::EventType::Pending));
	static_assert(LW_EVENT_RESYNC == static_cast<int>(lw::EventType::Resync));
	static_assert(LW_EVENT_ERROR == static_cast<int>(lw::EventType::Error));
	static_assert(LW_EVENT_READY == static_cast<int>(lw::EventType::Ready));
	static_assert(LW_EVENT_STOPPED == static_cast<int>(lw::EventType::Stopped));
	return static_cast<lw_event_type>(type);
}

void deliverC(const lw_options &options, const lw::Event &e)
{
	if (!options.on_event)
		return;
	std::vector<const char *> names;
	if (e.image)
		for (const auto &n : e.image->names)
			names.push_back(n.c_str());
	std::vector<const char *> stalled;
	for (lw::TreeId tree : e.stalled)
		stalled.push_back(lw::name(tree));
	lw_event c = {};
	c.type = cType(e.type);
	c.name = lw::eventName(e.type);
	c.source = lw::sourceName(e.source);
	c.id = e.id.c_str();
	c.parent = e.layer ? e.layer->parent.c_str() : "";
	c.top_layer = e.image ? e.image->topLayer.c_str() : "";
	c.names = names.data();
	c.names_len = names.size();
	c.kind = lw::eventKindName(e);
	c.reason = lw::eventReason(e);
	c.tree = lw::eventTreeName(e);
	c.message = e.message.c_str();
	c.images = e.imageCount;
	c.layers = e.layerCount;
	c.pending = e.pendingCount;
	c.stalled = stalled.data();
	c.stalled_len = stalled.size();
	options.on_event(&c, options.user);
}

// The defaults lw_options_init gives: WatcherOptions' own, so that the two cannot
// drift apart. kFirstOptionsSize is the first layout's (through user): a host's struct
// must have at least that.
const lw_options kDefaultOptions = [] {
	const lw::WatcherOptions d;
	lw_options o{};
	o.size = sizeof(lw_options);
	o.mode = static_cast<lw_mode>(d.mode);
	o.interval_ms = d.intervalMs;
	o.commit_links = d.commitLinks;
	o.trust_generation = d.trustGeneration;
	o.log_level = static_cast<lw_log_level>(d.logLevel);
	o.max_pending_watches = d.maxPendingWatches;
	o.max_pending_items = d.maxPendingItems;
	o.remote_reads = d.remoteReads;
	o.verify_period_ms = d.verifyPeriodMs;
	o.local_rescan_ms = d.localRescanMs;
	return o;
}();
constexpr std::size_t kFirstOptionsSize = offsetof(lw_options, user) + sizeof(void *);

} // namespace

namespace lw::capi {

std::string &lastError()
{
	thread_local std::string message;
	return message;
}

} // namespace lw::capi

extern "C" {

const char *lw_version(void)
{
	return LW_VERSION_STRING;
}

const char *lw_last_error(void)
{
	return lw::capi::lastError().c_str();
}

void lw_options_init_sized(lw_options *options, size_t size)
{
	if (!options)
		return;
	std::memcpy(options, &kDefaultOptions, std::min(size, sizeof kDefaultOptions));
	if (size >= sizeof options->size)
		options->size = size;
}

int lw_create(const lw_options *given, lw_watcher **out)
{
	return guarded([&] {
		if (!given || !out)
			return -EINVAL;
		*out = nullptr;
		auto handle = std::make_unique<lw_watcher>();
		// What the host's layout has, over the defaults of what it has not.
		if (given->size < kFirstOptionsSize)
			return failed({EINVAL, "lw_options.size: not set (lw_options_init sets it)"});
		handle->options = kDefaultOptions;
		std::memcpy(&handle->options, given, std::min(given->size, sizeof(lw_options)));
		const lw_options *options = &handle->options;
		if (!options->root)
			return failed({EINVAL, "lw_options.root: not set"});
		lw::WatcherOptions o;
		o.root = options->root;
		o.maxPendingWatches = options->max_pending_watches;
		o.maxPendingItems = options->max_pending_items;
		o.remoteReads = options->remote_reads;
		o.verifyPeriodMs = options->verify_period_ms;
		o.localRescanMs = options->local_rescan_ms;
		// Read as a plain int: a value out of the enum's range must not be loaded as one.
		int mode;
		static_assert(sizeof mode == sizeof options->mode);
		std::memcpy(&mode, &options->mode, sizeof mode);
		if (mode < LW_MODE_AUTO || mode > LW_MODE_POLL)
			return failed({EINVAL, "lw_options.mode: out of range"});
		o.mode = static_cast<lw::WatchMode>(mode);
		o.intervalMs = options->interval_ms;
		o.commitLinks = options->commit_links != 0;
		o.trustGeneration = options->trust_generation != 0;
		int level;
		static_assert(sizeof level == sizeof options->log_level);
		std::memcpy(&level, &options->log_level, sizeof level);
		if (level < LW_LOG_DEBUG || level > LW_LOG_ERROR)
			return failed({EINVAL, "lw_options.log_level: out of range"});
		o.logLevel = static_cast<lw::LogLevel>(level);
		lw_watcher *self = handle.get();
		if (options->on_log)
			o.log = [self](lw::LogLevel level, const std::string &message) {
				self->options.on_log(static_cast<lw_log_level>(level), message.c_str(), self->options.user);
			};
		auto watcher = lw::Watcher::create(std::move(o), [self](const lw::Event &e) { deliverC(self->options, e); });
		if (!watcher)
			return failed(watcher.error());
		handle->watcher = std::move(*watcher);
		*out = handle.release();
		return 0;
	});
}

int lw_attach(lw_watcher *watcher, struct uv_loop_s *loop)
{
	return guarded([&] {
		if (!watcher || !loop)
			return -EINVAL;
		auto r = watcher->watcher->attach(loop);
		return r ? 0 : failed(r.error());
	});
}

int lw_start(lw_watcher *watcher)
{
	return guarded([&] {
		if (!watcher)
			return -EINVAL;
		auto r = watcher->watcher->start();
		return r ? 0 : failed(r.error());
	});
}

int lw_stop(lw_watcher *watcher)
{
	return guarded([&] {
		if (!watcher)
			return -EINVAL;
		watcher->watcher->stop();
		return 0;
	});
}

int lw_join(lw_watcher *watcher)
{
	return guarded([&] {
		if (!watcher)
			return -EINVAL;
		watcher->watcher->join();
		return 0;
	});
}

int lw_is_closed(const lw_watcher *watcher)
{
	return watcher && watcher->watcher->closed() ? 1 : 0;
}

void lw_destroy(lw_watcher *watcher)
{
	(void)guarded([&] {
		if (!watcher)
			return 0;
		// The watcher first: once it is gone no callback reads the options.
		watcher->watcher.reset();
		delete watcher;
		return 0;
	});
}

int lw_image_get(lw_watcher *watcher, const char *idOrName, lw_image **out)
{
	return guarded([&] {
		if (!watcher || !idOrName || !out)
			return -EINVAL;
		*out = nullptr;
		auto snap = watcher->watcher->snapshot();
		auto image = snap.image(idOrName);
		if (!image)
			image = snap.imageByName(idOrName);
		if (!image)
			return -ENOENT;
		auto *copy = static_cast<lw_image *>(std::calloc(1, sizeof(lw_image)));
		if (!copy)
			return -ENOMEM;
		try {
			fillImage(*copy, *image);
		} catch (...) {
			std::free(copy);
			throw;
		}
		*out = copy;
		return 0;
	});
}

void lw_image_free(lw_image *image)
{
	if (!image)
		return;
	clearImage(*image);
	std::free(image);
}

int lw_image_list(lw_watcher *watcher, lw_image **out, size_t *count)
{
	return guarded([&] {
		if (!watcher || !out || !count)
			return -EINVAL;
		*out = nullptr;
		*count = 0;
		auto images = watcher->watcher->snapshot().images();
		if (images.empty())
			return 0;
		auto *array = static_cast<lw_image *>(std::calloc(images.size(), sizeof(lw_image)));
		if (!array)
			return -ENOMEM;
		for (std::size_t i = 0; i < images.size(); ++i) {
			try {
				fillImage(array[i], *images[i]);
			} catch (...) {
				lw_image_list_free(array, i);
				throw;
			}
		}
		*out = array;
		*count = images.size();
		return 0;
	});
}

void lw_image_list_free(lw_image *images, size_t count)
{
	if (!images)
		return;
	for (size_t i = 0; i < count; ++i)
		clearImage(images[i]);
	std::free(images);
}

int lw_image_chain(lw_watcher *watcher, const char *imageId, char ***layerIds, size_t *count)
{
	return guarded([&] {
		if (!watcher || !imageId || !layerIds || !count)
			return -EINVAL;
		*layerIds = nullptr;
		*count = 0;
		auto chain = watcher->watcher->snapshot().chain(imageId);
		if (chain.empty())
			return -ENOENT;
		std::vector<std::string> ids;
		for (const auto &layer : chain)
			ids.push_back(layer->id);
		*layerIds = copyStrings(ids);
		*count = ids.size();
		return 0;
	});
}

void lw_strv_free(char **strings, size_t count)
{
	if (!strings)
		return;
	for (size_t i = 0; i < count; ++i)
		std::free(strings[i]);
	std::free(strings);
}

int lw_get_stats_sized(const lw_watcher *watcher, lw_stats *out, size_t size)
{
	return guarded([&] {
		if (!watcher || !out || size < sizeof out->size)
			return -EINVAL;
		auto s = watcher->watcher->stats();
		lw_stats all = {sizeof(lw_stats), s.kernelEvents, s.batches, s.coalesced, s.rescans, s.resyncs,
				s.lastRescanUs, s.watches, s.pending, s.errors, s.troubled, s.stalled, s.marks, {},
				s.remoteCalls, s.remoteTickCalls};
		std::snprintf(all.backend, sizeof all.backend, "%s", s.backend);
		std::memcpy(out, &all, std::min(size, sizeof all));
		out->size = std::min(size, sizeof all);
		return 0;
	});
}

int lw_layer_get(lw_watcher *watcher, const char *id, lw_layer **out)
{
	return guarded([&] {
		if (!watcher || !id || !out)
			return -EINVAL;
		*out = nullptr;
		auto layer = watcher->watcher->snapshot().layer(id);
		if (!layer)
			return failed({ENOENT, std::string("no layer ") + id});
		auto *c = static_cast<lw_layer *>(std::calloc(1, sizeof(lw_layer)));
		if (!c)
			throw std::bad_alloc();
		try {
			c->id = copyString(layer->id);
			c->parent = copyString(layer->parent);
			c->link = copyString(layer->link);
			c->diff_digest = copyString(layer->diffDigest);
			c->names = copyStrings(layer->names);
			c->names_len = layer->names.size();
		} catch (...) {
			lw_layer_free(c);
			throw;
		}
		*out = c;
		return 0;
	});
}

void lw_layer_free(lw_layer *layer)
{
	if (!layer)
		return;
	std::free(layer->id);
	std::free(layer->parent);
	std::free(layer->link);
	std::free(layer->diff_digest);
	lw_strv_free(layer->names, layer->names_len);
	std::free(layer);
}

int lw_pending_list(lw_watcher *watcher, lw_pending **out, size_t *count)
{
	return guarded([&] {
		if (!watcher || !out || !count)
			return -EINVAL;
		*out = nullptr;
		*count = 0;
		auto items = watcher->watcher->pending();
		auto *c = static_cast<lw_pending *>(std::calloc(items.size() + 1, sizeof(lw_pending)));
		if (!c)
			throw std::bad_alloc();
		for (std::size_t i = 0; i < items.size(); ++i) {
			try {
				c[i] = {copyString(lw::name(items[i].kind)), copyString(items[i].id), copyString(items[i].reason)};
			} catch (...) {
				lw_pending_list_free(c, i + 1);
				throw;
			}
		}
		*out = c;
		*count = items.size();
		return 0;
	});
}

void lw_pending_list_free(lw_pending *items, size_t count)
{
	if (!items)
		return;
	for (size_t i = 0; i < count; ++i) {
		std::free(items[i].kind);
		std::free(items[i].id);
		std::free(items[i].reason);
	}
	std::free(items);
}

const char *lw_strerror(int error)
{
	if (error == 0)
		return "success";
	return std::strerror(error < 0 ? -error : error);
}

} // extern "C"

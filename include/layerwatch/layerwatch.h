/* layerwatch's C API, for daemons written in C (iSulad is). Compiles as C99.
 *
 * Two parts:
 *  - the seed's interface (iSulad's remote RO design, section 3), with its exact
 *    names and signatures, so that a daemon written against it links unchanged;
 *  - a handle API (lw_*): a watcher with callbacks, store queries that copy out
 *    into memory the caller frees with the matching lw_*_free, a log sink, stats.
 *
 * Every function returns 0 or a negative errno value (lw_strerror() says what it
 * means); none lets an exception or a crash of the library through.
 */
#ifndef LAYERWATCH_LAYERWATCH_H
#define LAYERWATCH_LAYERWATCH_H

#include <layerwatch/version.h>

#include <stddef.h>
#include <stdint.h>

/* libuv's loop, declared rather than included: uv.h needs POSIX feature macros a
 * strict C99 consumer may not have set. Pass a uv_loop_t *. */
struct uv_loop_s;

#if defined(__GNUC__) || defined(__clang__)
#define LW_C_EXPORT __attribute__((visibility("default")))
#else
#define LW_C_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The seed's interface ------------------------------------------------
 * remote_layer_init(R/overlay-layers) and remote_overlay_init(R/overlay) name the
 * two homes; their parent is the storage root R (resolved once, symlinks included:
 * the operator's path; below it none is followed). build_ro_dir makes
 * home/RO/<id> (empty, for the engine's own code to fill) and the local link
 * home/<id> -> RO/<id>; remove_ro_dir removes the link, then home/RO/<id> (an id is
 * one plain path component). start_refresh_thread runs the watcher on R on a thread
 * of its own (it makes and removes the local links of RO layers as they become ready
 * or go; it logs nothing); remote_maintain_cleanup stops it and forgets the homes. */
LW_C_EXPORT int remote_layer_init(const char *root_dir);
LW_C_EXPORT int remote_overlay_init(const char *driver_home);
LW_C_EXPORT void remote_maintain_cleanup(void);
LW_C_EXPORT int start_refresh_thread(void);
LW_C_EXPORT int remote_layer_build_ro_dir(const char *id);
LW_C_EXPORT int remote_overlay_build_ro_dir(const char *id);
LW_C_EXPORT int remote_layer_remove_ro_dir(const char *id);
LW_C_EXPORT int remote_overlay_remove_ro_dir(const char *id);

/* ---- The handle API ------------------------------------------------------
 * Structs that cross in both directions begin with their size as the host compiled
 * them, so that a library with more fields keeps working with a host built before:
 * fields past that size take their defaults and are never written. lw_options_init()
 * and lw_get_stats() are macros that pass sizeof. */

/* The library's version ("0.2.0"); LW_VERSION_* (layerwatch/version.h) are the
 * header's. */
LW_C_EXPORT const char *lw_version(void);
/* What the last failing call of this thread said (the library's own message: which
 * file, which errno, what happens next), or "" after a call that succeeded. Valid
 * until the next call on this thread. */
LW_C_EXPORT const char *lw_last_error(void);

typedef struct lw_watcher lw_watcher;

typedef enum {
	LW_MODE_AUTO = 0,
	LW_MODE_INOTIFY,
	LW_MODE_FANOTIFY,
	LW_MODE_POLL
} lw_mode;

typedef enum {
	LW_EVENT_LAYER_ADDED = 0,
	LW_EVENT_LAYER_REMOVED,
	LW_EVENT_IMAGE_ADDED,
	LW_EVENT_IMAGE_UPDATED,
	LW_EVENT_IMAGE_REMOVED,
	LW_EVENT_PENDING,
	LW_EVENT_RESYNC,
	LW_EVENT_ERROR,
	LW_EVENT_READY,
	LW_EVENT_STOPPED
} lw_event_type;

typedef enum { LW_LOG_DEBUG = 0, LW_LOG_INFO, LW_LOG_WARNING, LW_LOG_ERROR } lw_log_level;

/* One event, valid only during the callback. Strings are never NULL ("" when not
 * set). name is the event's `watch --json` name ("image_added" ...). */
typedef struct {
	lw_event_type type;
	const char *name;
	const char *source;    /* "initial", "inotify", "fanotify", "rescan" */
	const char *id;
	const char *parent;    /* layer events */
	const char *top_layer; /* image events */
	const char *const *names; /* image events: names_len names */
	size_t names_len;
	const char *kind;   /* pending: "overlay", "layer", "image" */
	const char *reason; /* pending, resync */
	const char *tree;   /* resync */
	const char *message; /* error */
	size_t images, layers, pending; /* ready */
	/* Added after the first layout (a host built before reads none of it): */
	const char *const *stalled; /* ready: the trees still stalled ("overlay-images" ...) */
	size_t stalled_len;
} lw_event;

/* Both run on the loop thread. */
typedef void (*lw_event_cb)(const lw_event *event, void *user);
typedef void (*lw_log_cb)(lw_log_level level, const char *message, void *user);

typedef struct {
	size_t size;           /* sizeof(lw_options) as compiled by the host: lw_options_init */
	const char *root;      /* the storage root, e.g. /var/lib/isulad/storage */
	lw_mode mode;          /* LW_MODE_AUTO */
	uint32_t interval_ms;  /* rescan period of remote trees: 5000 */
	int commit_links;      /* make and remove local links: 1 */
	int trust_generation;  /* skip idle rescans on the writer's generation file: 0 */
	lw_event_cb on_event;  /* may be NULL */
	lw_log_cb on_log;      /* may be NULL: nothing is logged */
	lw_log_level log_level; /* LW_LOG_INFO */
	void *user;            /* passed to both callbacks */
	/* Added after the first layout (watcher.h's WatcherOptions say more): */
	uint32_t max_pending_watches; /* inotify watches for pending items: 1024 */
	uint32_t max_pending_items;   /* items with unusable files kept in full per tree: 10000 */
	uint32_t remote_reads;        /* reads in flight on a network tree: 32 */
	uint32_t verify_period_ms;    /* every ready remote image verified once per: 300000 */
	uint32_t local_rescan_ms;     /* a slow safety rescan of local trees too, every: 0 (none) */
} lw_options;

typedef struct {
	size_t size; /* sizeof(lw_stats) as compiled by the host: lw_get_stats */
	uint64_t kernel_events, batches, coalesced, rescans, resyncs, last_rescan_us, watches, pending;
	/* Added after the first layout: */
	uint64_t errors;   /* error events told */
	uint64_t troubled; /* trees and items that cannot be read right now */
	uint64_t stalled;  /* trees whose read has not come back in time */
	uint64_t marks;    /* fanotify marks held (one per filesystem); watches: inotify's */
	char backend[16];  /* "fanotify", "inotify" or "poll" */
	uint64_t remote_calls;      /* calls on remote trees' filesystems, in all */
	uint64_t remote_tick_calls; /* ... in the last periodic tick (about its server requests) */
} lw_stats;

/* A layer as the store has it; the caller's to free with lw_layer_free. */
typedef struct {
	char *id;
	char *parent; /* "" for a base layer */
	char *link;   /* its overlay short link: overlay/l/<link> */
	char *diff_digest;
	char **names;
	size_t names_len;
} lw_layer;

/* An item that is not ready, and why; freed with lw_pending_list_free. */
typedef struct {
	char *kind; /* "overlay", "layer", "image" */
	char *id;
	char *reason;
} lw_pending;

/* An image as the store has it; every pointer is the caller's to free with
 * lw_image_free (one) or lw_image_list_free (an array). */
typedef struct {
	char *id;
	char *top_layer;
	char *digest;
	char **names;
	size_t names_len;
} lw_image;

/* Fills options (size bytes of it) with the defaults above. */
LW_C_EXPORT void lw_options_init_sized(lw_options *options, size_t size);
#define lw_options_init(options) lw_options_init_sized((options), sizeof(lw_options))
/* Opens the root and makes a watcher; nothing runs yet. */
LW_C_EXPORT int lw_create(const lw_options *options, lw_watcher **out);
/* Starts on the caller's loop, from its thread (the initial load runs before it
 * returns), or on a thread and loop of the watcher's own. */
LW_C_EXPORT int lw_attach(lw_watcher *watcher, struct uv_loop_s *loop);
LW_C_EXPORT int lw_start(lw_watcher *watcher);
/* Stops (from any thread): handles close on the loop, the last event is STOPPED. */
LW_C_EXPORT int lw_stop(lw_watcher *watcher);
/* After lw_start: waits for the thread. */
LW_C_EXPORT int lw_join(lw_watcher *watcher);
/* 1 once every handle of the watcher is closed. */
LW_C_EXPORT int lw_is_closed(const lw_watcher *watcher);
/* Frees the watcher: after its handles closed (or it never started). */
LW_C_EXPORT void lw_destroy(lw_watcher *watcher);

/* Store queries, from any thread. -ENOENT when there is no such image. */
LW_C_EXPORT int lw_image_get(lw_watcher *watcher, const char *id_or_name, lw_image **out);
LW_C_EXPORT void lw_image_free(lw_image *image);
LW_C_EXPORT int lw_image_list(lw_watcher *watcher, lw_image **out, size_t *count);
LW_C_EXPORT void lw_image_list_free(lw_image *images, size_t count);
/* The image's layer ids, top first. */
LW_C_EXPORT int lw_image_chain(lw_watcher *watcher, const char *image_id, char ***layer_ids, size_t *count);
LW_C_EXPORT void lw_strv_free(char **strings, size_t count);
/* -ENOENT when there is no such layer. */
LW_C_EXPORT int lw_layer_get(lw_watcher *watcher, const char *id, lw_layer **out);
LW_C_EXPORT void lw_layer_free(lw_layer *layer);
/* Every item not ready, with its reason, as of the last events (from any thread). */
LW_C_EXPORT int lw_pending_list(lw_watcher *watcher, lw_pending **out, size_t *count);
LW_C_EXPORT void lw_pending_list_free(lw_pending *items, size_t count);

/* Fills size bytes of out. */
LW_C_EXPORT int lw_get_stats_sized(const lw_watcher *watcher, lw_stats *out, size_t size);
#define lw_get_stats(watcher, out) lw_get_stats_sized((watcher), (out), sizeof(lw_stats))
/* A message for a negative errno value returned here. */
LW_C_EXPORT const char *lw_strerror(int error);

#ifdef __cplusplus
}
#endif

#endif /* LAYERWATCH_LAYERWATCH_H */

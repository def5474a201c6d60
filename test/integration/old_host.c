/* A host compiled against the first lw_options and lw_stats layouts (before the
 * fields that follow user, and errors ...), run against this library: nothing is
 * written past its structs, and it works with the defaults of what it lacks.
 *
 * It makes an empty store in a temporary folder, and removes it after.
 * Exit 0 when all holds; each broken rule is printed. */
#define _POSIX_C_SOURCE 200809L
#include <layerwatch/layerwatch.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

/* The first layouts, as an old host's header had them. */
typedef struct {
	size_t size;
	const char *root;
	lw_mode mode;
	uint32_t interval_ms;
	int commit_links;
	int trust_generation;
	lw_event_cb on_event;
	lw_log_cb on_log;
	lw_log_level log_level;
	void *user;
} old_options;

typedef struct {
	size_t size;
	uint64_t kernel_events, batches, coalesced, rescans, resyncs, last_rescan_us, watches, pending;
} old_stats;

#define GUARD 64
static int g_failures;

#define EXPECT(cond)                                                   \
	do {                                                           \
		if (!(cond)) {                                         \
			printf("%s:%d: %s\n", __FILE__, __LINE__, #cond); \
			++g_failures;                                  \
		}                                                      \
	} while (0)

static int untouched(const unsigned char *guard)
{
	for (int i = 0; i < GUARD; ++i)
		if (guard[i] != 0xAB)
			return 0;
	return 1;
}

static const char *const kDirs[] = {"overlay", "overlay/RO", "overlay-layers", "overlay-layers/RO",
				     "overlay-images", "overlay/l"};

int main(void)
{
	char root[] = "/tmp/lw-old-host-XXXXXX", path[256];
	struct {
		old_options o;
		unsigned char guard[GUARD];
	} opts;
	struct {
		old_stats s;
		unsigned char guard[GUARD];
	} stats;
	lw_watcher *w = NULL;
	struct timespec pause = {0, 20000000};
	if (!mkdtemp(root))
		return 2;
	for (size_t i = 0; i < sizeof kDirs / sizeof kDirs[0]; ++i) {
		snprintf(path, sizeof path, "%s/%s", root, kDirs[i]);
		mkdir(path, 0755);
	}

	memset(opts.guard, 0xAB, GUARD);
	lw_options_init_sized((lw_options *)&opts.o, sizeof opts.o);
	EXPECT(untouched(opts.guard));
	EXPECT(opts.o.size == sizeof opts.o);
	EXPECT(opts.o.interval_ms == 5000 && opts.o.commit_links == 1);

	/* A size of 0 (never initialised) is refused, and said why. */
	opts.o.size = 0;
	opts.o.root = root;
	EXPECT(lw_create((const lw_options *)&opts.o, &w) == -EINVAL);
	EXPECT(strstr(lw_last_error(), "size") != NULL);

	opts.o.size = sizeof opts.o;
	opts.o.mode = LW_MODE_POLL;
	opts.o.interval_ms = 100;
	EXPECT(lw_create((const lw_options *)&opts.o, &w) == 0);
	EXPECT(strcmp(lw_last_error(), "") == 0);
	EXPECT(untouched(opts.guard));
	if (!w)
		return 1; /* what failed is printed above */
	EXPECT(lw_start(w) == 0);
	memset(stats.guard, 0xAB, GUARD);
	/* Rescans happen every 100 ms in poll mode: wait for one. */
	for (int i = 0; i < 200; ++i) {
		EXPECT(lw_get_stats_sized(w, (lw_stats *)&stats.s, sizeof stats.s) == 0);
		if (stats.s.rescans > 0)
			break;
		nanosleep(&pause, NULL);
	}
	EXPECT(stats.s.rescans > 0);
	EXPECT(stats.s.size == sizeof stats.s);
	EXPECT(untouched(stats.guard));
	EXPECT(lw_stop(w) == 0);
	EXPECT(lw_join(w) == 0);
	lw_destroy(w);
	for (size_t i = sizeof kDirs / sizeof kDirs[0]; i-- > 0;) {
		snprintf(path, sizeof path, "%s/%s", root, kDirs[i]);
		rmdir(path);
	}
	rmdir(root);
	return g_failures ? 1 : 0;
}

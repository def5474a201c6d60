/* A fake iSulad: a C99 host of layerwatch's drop-in for iSulad's remote-layer module,
 * written as iSulad uses it. It declares the interface itself (as iSulad's own
 * headers do), defines the four store hooks, and checks in each one what iSulad
 * relies on:
 *  - iSulad's remote lock is held for writing during the call;
 *  - a layer is loaded after its parent, an image after its top layer (read from
 *    the files, as iSulad's hooks do);
 *  - a layer is removed after the images and the layers on top of it.
 * A second thread takes the lock for reading every millisecond, as iSulad's image
 * operations do, and records the longest wait.
 *
 *   fake_isulad STORAGE_ROOT
 *
 * FAKE_ISULAD_FLAKY=1: every hook fails the first time it is called for an id.
 * It prints one line per event: "started", "load_layer ID", "remove_layer ID",
 * "append_image ID", "remove_image ID", "failed HOOK ID" (a planned failure), and
 * "violation WHAT" for any broken rule; on SIGTERM it calls remote_maintain_cleanup()
 * and prints "max_read_wait_us N", "violations N", then exits 0. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* iSulad's ro_symlink_maintain.h and remote_support.h, as iSulad declares them. */
int remote_image_init(const char *root_dir);
int remote_layer_init(const char *root_dir);
int remote_overlay_init(const char *driver_home);
void remote_maintain_cleanup(void);
int remote_layer_build_ro_dir(const char *id);
int remote_overlay_build_ro_dir(const char *id);
int remote_layer_remove_ro_dir(const char *id);
int remote_overlay_remove_ro_dir(const char *id);
int remote_start_refresh_thread(pthread_rwlock_t *remote_lock);

#define MAX_ITEMS 8192
#define ID_LEN 64

struct item {
	char id[ID_LEN + 1];
	char on[ID_LEN + 1]; /* a layer's parent, an image's top layer; "" for none */
	int failed_once;
};

static pthread_rwlock_t g_remote_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER; /* the tables, stdout */
static struct item g_layers[MAX_ITEMS], g_images[MAX_ITEMS];
static size_t g_layer_count, g_image_count;
/* ids whose planned failure happened (FAKE_ISULAD_FLAKY) */
static char g_failed[4 * MAX_ITEMS][128];
static size_t g_failed_count;
static int g_flaky;
static long g_violations;
static long g_max_read_wait_us;
static int g_stop_reader; /* under g_mutex */
static char g_root[4096];

static void say(const char *what, const char *id)
{
	pthread_mutex_lock(&g_mutex);
	printf("%s %s\n", what, id);
	fflush(stdout);
	pthread_mutex_unlock(&g_mutex);
}

static void violation(const char *what, const char *id)
{
	pthread_mutex_lock(&g_mutex);
	++g_violations;
	printf("violation %s %s\n", what, id);
	fflush(stdout);
	pthread_mutex_unlock(&g_mutex);
}

/* The lock must be held for writing: a read lock cannot be had. */
static void check_locked(const char *hook, const char *id)
{
	int r = pthread_rwlock_tryrdlock(&g_remote_lock);
	if (r == 0) {
		pthread_rwlock_unlock(&g_remote_lock);
		violation(hook, id); /* called without the lock */
	}
}

/* A planned failure: the first call of each hook for each id, when flaky. */
static int fail_once(const char *hook, const char *id)
{
	char key[128];
	size_t i;
	if (!g_flaky)
		return 0;
	snprintf(key, sizeof key, "%.50s %.64s", hook + strlen("remote_"), id);
	pthread_mutex_lock(&g_mutex);
	for (i = 0; i < g_failed_count; ++i)
		if (strcmp(g_failed[i], key) == 0)
			break;
	if (i == g_failed_count && g_failed_count < sizeof g_failed / sizeof g_failed[0]) {
		strcpy(g_failed[g_failed_count++], key);
		pthread_mutex_unlock(&g_mutex);
		say("failed", key);
		return 1;
	}
	pthread_mutex_unlock(&g_mutex);
	return 0;
}

/* The string value of "key" in a small JSON file, or "" (as iSulad reads them). */
static void json_field(const char *path, const char *key, char *out)
{
	char text[65536];
	char pattern[64];
	size_t n;
	const char *p;
	FILE *f = fopen(path, "r");
	out[0] = '\0';
	if (!f)
		return;
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	snprintf(pattern, sizeof pattern, "\"%s\"", key);
	p = strstr(text, pattern);
	if (!p)
		return;
	p += strlen(pattern);
	while (*p == ' ' || *p == ':')
		++p;
	if (*p++ != '"')
		return;
	for (n = 0; n < ID_LEN && p[n] && p[n] != '"'; ++n)
		out[n] = p[n];
	out[n] = '\0';
}

static struct item *find(struct item *items, size_t count, const char *id)
{
	size_t i;
	for (i = 0; i < count; ++i)
		if (strcmp(items[i].id, id) == 0)
			return &items[i];
	return NULL;
}

static void drop(struct item *items, size_t *count, const char *id)
{
	struct item *it = find(items, *count, id);
	if (it)
		*it = items[--*count];
}

int remote_load_one_layer(const char *id)
{
	char path[8192], parent[ID_LEN + 1];
	check_locked("remote_load_one_layer", id);
	if (fail_once("remote_load_one_layer", id))
		return -1;
	snprintf(path, sizeof path, "%s/overlay-layers/%s/layer.json", g_root, id);
	json_field(path, "parent", parent);
	pthread_mutex_lock(&g_mutex);
	int parent_missing = parent[0] && !find(g_layers, g_layer_count, parent);
	if (!find(g_layers, g_layer_count, id) && g_layer_count < MAX_ITEMS) {
		strcpy(g_layers[g_layer_count].id, id);
		strcpy(g_layers[g_layer_count].on, parent);
		++g_layer_count;
	}
	pthread_mutex_unlock(&g_mutex);
	if (parent_missing)
		violation("layer_before_parent", id);
	say("load_layer", id);
	return 0;
}

int remote_layer_remove_memory_stores_with_lock(const char *id)
{
	size_t i;
	int in_use = 0;
	check_locked("remote_layer_remove_memory_stores_with_lock", id);
	if (fail_once("remote_layer_remove_memory_stores_with_lock", id))
		return -1;
	pthread_mutex_lock(&g_mutex);
	for (i = 0; i < g_layer_count; ++i)
		in_use |= strcmp(g_layers[i].on, id) == 0;
	for (i = 0; i < g_image_count; ++i)
		in_use |= strcmp(g_images[i].on, id) == 0;
	drop(g_layers, &g_layer_count, id);
	pthread_mutex_unlock(&g_mutex);
	if (in_use)
		violation("layer_removed_before_its_users", id);
	say("remove_layer", id);
	return 0;
}

int remote_append_image_by_directory_with_lock(const char *id)
{
	char path[8192], top[ID_LEN + 1];
	check_locked("remote_append_image_by_directory_with_lock", id);
	if (fail_once("remote_append_image_by_directory_with_lock", id))
		return -1;
	snprintf(path, sizeof path, "%s/overlay-images/%s/images.json", g_root, id);
	json_field(path, "layer", top);
	pthread_mutex_lock(&g_mutex);
	int top_missing = !top[0] || !find(g_layers, g_layer_count, top);
	if (!find(g_images, g_image_count, id) && g_image_count < MAX_ITEMS) {
		strcpy(g_images[g_image_count].id, id);
		strcpy(g_images[g_image_count].on, top);
		++g_image_count;
	}
	pthread_mutex_unlock(&g_mutex);
	if (top_missing)
		violation("image_before_its_layer", id);
	say("append_image", id);
	return 0;
}

int remote_remove_image_from_memory_with_lock(const char *id)
{
	check_locked("remote_remove_image_from_memory_with_lock", id);
	if (fail_once("remote_remove_image_from_memory_with_lock", id))
		return -1;
	pthread_mutex_lock(&g_mutex);
	drop(g_images, &g_image_count, id);
	pthread_mutex_unlock(&g_mutex);
	say("remove_image", id);
	return 0;
}

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* iSulad's image operations: a read lock, often. */
static void *reader(void *unused)
{
	struct timespec pause = {0, 1000000};
	(void)unused;
	for (;;) {
		long start, waited;
		int stop;
		pthread_mutex_lock(&g_mutex);
		stop = g_stop_reader;
		pthread_mutex_unlock(&g_mutex);
		if (stop)
			break;
		start = now_us();
		pthread_rwlock_rdlock(&g_remote_lock);
		waited = now_us() - start;
		pthread_rwlock_unlock(&g_remote_lock);
		pthread_mutex_lock(&g_mutex);
		if (waited > g_max_read_wait_us)
			g_max_read_wait_us = waited;
		pthread_mutex_unlock(&g_mutex);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char home[8192];
	sigset_t stop;
	pthread_t reader_thread;
	int sig, r;
	if (argc != 2) {
		fprintf(stderr, "usage: fake_isulad STORAGE_ROOT\n");
		return 2;
	}
	snprintf(g_root, sizeof g_root, "%s", argv[1]);
	g_flaky = getenv("FAKE_ISULAD_FLAKY") && strcmp(getenv("FAKE_ISULAD_FLAKY"), "1") == 0;
	/* Blocked here, so in every thread started after: sigwait takes them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	snprintf(home, sizeof home, "%s/overlay-images", g_root);
	if ((r = remote_image_init(home)) != 0)
		return fprintf(stderr, "remote_image_init: %d\n", r), 1;
	snprintf(home, sizeof home, "%s/overlay-layers", g_root);
	if ((r = remote_layer_init(home)) != 0)
		return fprintf(stderr, "remote_layer_init: %d\n", r), 1;
	snprintf(home, sizeof home, "%s/overlay", g_root);
	if ((r = remote_overlay_init(home)) != 0)
		return fprintf(stderr, "remote_overlay_init: %d\n", r), 1;
	if ((r = remote_start_refresh_thread(&g_remote_lock)) != 0)
		return fprintf(stderr, "remote_start_refresh_thread: %d\n", r), 1;
	pthread_create(&reader_thread, NULL, reader, NULL);
	say("started", g_root);

	sigwait(&stop, &sig);
	remote_maintain_cleanup();
	pthread_mutex_lock(&g_mutex);
	g_stop_reader = 1;
	pthread_mutex_unlock(&g_mutex);
	pthread_join(reader_thread, NULL);
	pthread_mutex_lock(&g_mutex);
	printf("max_read_wait_us %ld\nviolations %ld\n", g_max_read_wait_us, g_violations);
	pthread_mutex_unlock(&g_mutex);
	return 0;
}

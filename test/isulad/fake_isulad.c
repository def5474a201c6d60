/* A fake iSulad: a C99 host of layerwatch's drop-in for iSulad's remote-layer module,
 * written in iSulad's real shapes (src/daemon/modules/image/oci/: storage.c,
 * layer_store.c, image_store.c, driver_overlay2.c, oci_image.c). It declares the
 * interface itself (as iSulad's own headers do), and:
 *  - calls the init functions, then loads its memory from the storage folders before
 *    it starts the refresh, as layer_store_init and image_store_init do: a layer for
 *    each overlay-layers/<id> (folder or link) whose layer.json reads and whose
 *    tar-split is there, an image for each overlay-images/<id> whose images.json
 *    reads;
 *  - defines the four store hooks, which check what iSulad relies on: its remote lock
 *    held for writing; a layer loaded after its parent (from its layer.json, read
 *    through overlay-layers/<id> as iSulad reads it, so the link must be there) and
 *    an image after its top layer; a layer removed after the images and layers on it;
 *  - takes the lock for reading every millisecond, as its image operations do, and
 *    records the longest wait.
 *
 *   fake_isulad STORAGE_ROOT
 *
 * The environment shapes it:
 *   FAKE_ISULAD_FLAKY=1        every hook fails the first time it is called for an id
 *   FAKE_ISULAD_FAIL=ID        every hook called for ID fails
 *   FAKE_ISULAD_PULL_MS=N      a pull thread: holds the read lock N ms at a time and,
 *                              holding it, looks as a pull does before it makes a layer
 *                              (driver_overlay2.c do_create_remote_ro): any link
 *                              overlay/<id> -> RO/<id> whose folder exists while <id> is
 *                              not in memory would make that pull fail with EEXIST and
 *                              delete the share's RO/<id> ("violation link_without_layer")
 *   FAKE_ISULAD_KEEP=ID        image ID, once in memory, must never be seen absent under
 *                              the read lock ("violation image_absent")
 *   FAKE_ISULAD_IN_HOOK=WHAT:ID  in the first hook called for ID: "exit" calls exit(0),
 *                              "cleanup" calls remote_maintain_cleanup(), "hang" never
 *                              returns
 *   FAKE_ISULAD_ON_TERM=WHAT   on SIGTERM: "cleanup" (the default) calls
 *                              remote_maintain_cleanup() and says its figures; "exit"
 *                              says them and exits as iSulad does (no cleanup);
 *                              "exit_locked" takes the read lock first (a pull running),
 *                              then exits; "cleanup_locked" calls the cleanup with the
 *                              read lock held
 *
 * It prints one line per event: "started", "start_layer ID", "start_image ID",
 * "load_layer ID", "remove_layer ID", "append_image ID", "remove_image ID", "failed
 * HOOK ID" (a planned failure), "cleanup_returned" and "violation WHAT ID" for any
 * broken rule; on SIGTERM "max_read_wait_us N", "violations N", then it exits 0
 * (its threads are not joined: a hook left hanging holds the lock they wait for). */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
};

static pthread_rwlock_t g_remote_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER; /* the tables, stdout */
static struct item g_layers[MAX_ITEMS], g_images[MAX_ITEMS];
static size_t g_layer_count, g_image_count;
/* ids whose planned failure happened (FAKE_ISULAD_FLAKY) */
static char g_failed[4 * MAX_ITEMS][128];
static size_t g_failed_count;
static int g_flaky;
static const char *g_fail_id = "";
static char g_in_hook_what[32], g_in_hook_id[ID_LEN + 1];
static int g_in_hook_done;
static char g_keep[ID_LEN + 1];
static int g_keep_seen;
static long g_pull_ms;
static long g_violations;
static long g_max_read_wait_us;
static int g_stop_threads; /* under g_mutex */
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

static int stopping(void)
{
	int stop;
	pthread_mutex_lock(&g_mutex);
	stop = g_stop_threads;
	pthread_mutex_unlock(&g_mutex);
	return stop;
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

/* FAKE_ISULAD_IN_HOOK: what the first hook called for that id does. */
static void act_in_hook(const char *id)
{
	struct timespec forever = {3600, 0};
	if (!g_in_hook_what[0] || strcmp(id, g_in_hook_id) != 0)
		return;
	pthread_mutex_lock(&g_mutex);
	if (g_in_hook_done) {
		pthread_mutex_unlock(&g_mutex);
		return;
	}
	g_in_hook_done = 1;
	pthread_mutex_unlock(&g_mutex);
	say("in_hook", g_in_hook_what);
	if (strcmp(g_in_hook_what, "exit") == 0)
		exit(0);
	if (strcmp(g_in_hook_what, "cleanup") == 0) {
		remote_maintain_cleanup();
		say("cleanup_returned", "in_hook");
	}
	if (strcmp(g_in_hook_what, "hang") == 0)
		for (;;)
			nanosleep(&forever, NULL);
}

/* A planned failure: the first call of each hook for each id when flaky; every call
 * for FAKE_ISULAD_FAIL's id. */
static int planned_failure(const char *hook, const char *id)
{
	char key[128];
	size_t i;
	snprintf(key, sizeof key, "%.50s %.64s", hook + strlen("remote_"), id);
	if (strcmp(id, g_fail_id) == 0) {
		say("failed", key);
		return 1;
	}
	if (!g_flaky)
		return 0;
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

/* The string value of "key" in a small JSON file, or "" (as iSulad reads them).
 * Returns 0 when the file was read. */
static int json_field(const char *path, const char *key, char *out)
{
	char text[65536];
	char pattern[64];
	size_t n;
	const char *p;
	FILE *f = fopen(path, "r");
	out[0] = '\0';
	if (!f)
		return -1;
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	snprintf(pattern, sizeof pattern, "\"%s\"", key);
	p = strstr(text, pattern);
	if (!p)
		return 0;
	p += strlen(pattern);
	while (*p == ' ' || *p == ':')
		++p;
	if (*p++ != '"')
		return 0;
	for (n = 0; n < ID_LEN && p[n] && p[n] != '"'; ++n)
		out[n] = p[n];
	out[n] = '\0';
	return 0;
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

/* Under g_mutex. */
static void put(struct item *items, size_t *count, const char *id, const char *on)
{
	if (find(items, *count, id) || *count >= MAX_ITEMS)
		return;
	snprintf(items[*count].id, sizeof items[*count].id, "%s", id);
	snprintf(items[*count].on, sizeof items[*count].on, "%s", on);
	++*count;
}

static int is_id(const char *name)
{
	size_t i;
	for (i = 0; name[i]; ++i)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return i == ID_LEN;
}

int remote_load_one_layer(const char *id)
{
	char path[8192], parent[ID_LEN + 1];
	int parent_missing;
	check_locked("remote_load_one_layer", id);
	act_in_hook(id);
	if (planned_failure("remote_load_one_layer", id))
		return -1;
	/* As layer_store.c load_one_layer_from_json: through the link. */
	snprintf(path, sizeof path, "%s/overlay-layers/%s/layer.json", g_root, id);
	if (json_field(path, "parent", parent) != 0) {
		violation("layer_json_unreadable_through_link", id);
		return -1;
	}
	pthread_mutex_lock(&g_mutex);
	parent_missing = parent[0] && !find(g_layers, g_layer_count, parent);
	put(g_layers, &g_layer_count, id, parent);
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
	act_in_hook(id);
	if (planned_failure("remote_layer_remove_memory_stores_with_lock", id))
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
	int top_missing;
	check_locked("remote_append_image_by_directory_with_lock", id);
	act_in_hook(id);
	if (planned_failure("remote_append_image_by_directory_with_lock", id))
		return -1;
	snprintf(path, sizeof path, "%s/overlay-images/%s/images.json", g_root, id);
	json_field(path, "layer", top);
	pthread_mutex_lock(&g_mutex);
	top_missing = !top[0] || !find(g_layers, g_layer_count, top);
	put(g_images, &g_image_count, id, top);
	pthread_mutex_unlock(&g_mutex);
	if (top_missing)
		violation("image_before_its_layer", id);
	say("append_image", id);
	return 0;
}

int remote_remove_image_from_memory_with_lock(const char *id)
{
	check_locked("remote_remove_image_from_memory_with_lock", id);
	act_in_hook(id);
	if (planned_failure("remote_remove_image_from_memory_with_lock", id))
		return -1;
	pthread_mutex_lock(&g_mutex);
	drop(g_images, &g_image_count, id);
	pthread_mutex_unlock(&g_mutex);
	say("remove_image", id);
	return 0;
}

/* layer_store_init and image_store_init: what the folders hold, before the refresh. */
static void load_at_start(void)
{
	char dir[4200], path[4800], on[ID_LEN + 1];
	const char *trees[2] = {"overlay-layers", "overlay-images"};
	int t;
	for (t = 0; t < 2; ++t) {
		DIR *d;
		struct dirent *e;
		snprintf(dir, sizeof dir, "%s/%s", g_root, trees[t]);
		d = opendir(dir);
		if (!d)
			continue;
		while ((e = readdir(d)) != NULL) {
			if (!is_id(e->d_name))
				continue;
			snprintf(path, sizeof path, "%s/%s/%s", dir, e->d_name, t == 0 ? "layer.json" : "images.json");
			if (json_field(path, t == 0 ? "parent" : "layer", on) != 0)
				continue;
			/* do_validate_image_layer: an image layer needs its tar-split (iSulad
			 * removes one without it at start; the fake only leaves it out). */
			snprintf(path, sizeof path, "%s/%s/%s.tar-split.gz", dir, e->d_name, e->d_name);
			if (t == 0 && access(path, F_OK) != 0)
				continue;
			pthread_mutex_lock(&g_mutex);
			put(t == 0 ? g_layers : g_images, t == 0 ? &g_layer_count : &g_image_count, e->d_name, on);
			pthread_mutex_unlock(&g_mutex);
			say(t == 0 ? "start_layer" : "start_image", e->d_name);
		}
		closedir(d);
	}
}

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* FAKE_ISULAD_KEEP, under the read lock: the image is there once it was. */
static void check_kept(void)
{
	int present;
	if (!g_keep[0])
		return;
	pthread_mutex_lock(&g_mutex);
	present = find(g_images, g_image_count, g_keep) != NULL;
	if (present)
		g_keep_seen = 1;
	present |= !g_keep_seen;
	pthread_mutex_unlock(&g_mutex);
	if (!present)
		violation("image_absent", g_keep);
}

/* iSulad's image operations: a read lock, often. */
static void *reader(void *unused)
{
	struct timespec pause = {0, 1000000};
	(void)unused;
	while (!stopping()) {
		long start, waited;
		start = now_us();
		pthread_rwlock_rdlock(&g_remote_lock);
		waited = now_us() - start;
		check_kept();
		pthread_rwlock_unlock(&g_remote_lock);
		pthread_mutex_lock(&g_mutex);
		if (waited > g_max_read_wait_us)
			g_max_read_wait_us = waited;
		pthread_mutex_unlock(&g_mutex);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* What a pull, holding the read lock, would find: a layer it needs whose link is
 * there (and its RO folder) while memory does not have it. Its do_create_remote_ro
 * then fails on the link with EEXIST and deletes RO/<id>. */
static void look_as_a_pull(void)
{
	char dir[4200], target[PATH_MAX], folder[4608];
	DIR *d;
	struct dirent *e;
	struct stat st;
	snprintf(dir, sizeof dir, "%s/overlay", g_root);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		ssize_t n;
		char link[4608];
		int known;
		if (!is_id(e->d_name))
			continue;
		snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue; /* a folder: a container's own layer */
		target[n] = '\0';
		if (!strstr(target, "RO/"))
			continue;
		snprintf(folder, sizeof folder, "%s/RO/%s", dir, e->d_name);
		if (stat(folder, &st) != 0)
			continue; /* dangling: the pull would lose nothing */
		pthread_mutex_lock(&g_mutex);
		known = find(g_layers, g_layer_count, e->d_name) != NULL;
		pthread_mutex_unlock(&g_mutex);
		if (!known)
			violation("link_without_layer", e->d_name);
	}
	closedir(d);
}

static void *puller(void *unused)
{
	struct timespec hold = {g_pull_ms / 1000, (g_pull_ms % 1000) * 1000000L};
	struct timespec pause = {0, 1000000};
	(void)unused;
	while (!stopping()) {
		pthread_rwlock_rdlock(&g_remote_lock);
		look_as_a_pull();
		nanosleep(&hold, NULL);
		look_as_a_pull();
		pthread_rwlock_unlock(&g_remote_lock);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void say_figures(void)
{
	pthread_mutex_lock(&g_mutex);
	printf("max_read_wait_us %ld\nviolations %ld\n", g_max_read_wait_us, g_violations);
	fflush(stdout);
	pthread_mutex_unlock(&g_mutex);
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *value = getenv(name);
	return value && *value ? value : fallback;
}

int main(int argc, char **argv)
{
	char home[8192];
	sigset_t stop;
	pthread_t reader_thread, pull_thread;
	const char *on_term, *in_hook;
	int sig, r;
	if (argc != 2) {
		fprintf(stderr, "usage: fake_isulad STORAGE_ROOT\n");
		return 2;
	}
	snprintf(g_root, sizeof g_root, "%s", argv[1]);
	g_flaky = strcmp(env_or("FAKE_ISULAD_FLAKY", ""), "1") == 0;
	g_fail_id = env_or("FAKE_ISULAD_FAIL", "");
	snprintf(g_keep, sizeof g_keep, "%s", env_or("FAKE_ISULAD_KEEP", ""));
	g_pull_ms = atol(env_or("FAKE_ISULAD_PULL_MS", "0"));
	in_hook = env_or("FAKE_ISULAD_IN_HOOK", "");
	if (strchr(in_hook, ':')) {
		snprintf(g_in_hook_what, sizeof g_in_hook_what, "%.*s", (int)(strchr(in_hook, ':') - in_hook), in_hook);
		snprintf(g_in_hook_id, sizeof g_in_hook_id, "%s", strchr(in_hook, ':') + 1);
	}
	on_term = env_or("FAKE_ISULAD_ON_TERM", "cleanup");
	/* Blocked here, so in every thread started after: sigwait takes them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	/* iSulad's order: the driver (overlay), the layer store, the image store. */
	snprintf(home, sizeof home, "%s/overlay", g_root);
	if ((r = remote_overlay_init(home)) != 0)
		return fprintf(stderr, "remote_overlay_init: %d\n", r), 1;
	snprintf(home, sizeof home, "%s/overlay-layers", g_root);
	if ((r = remote_layer_init(home)) != 0)
		return fprintf(stderr, "remote_layer_init: %d\n", r), 1;
	snprintf(home, sizeof home, "%s/overlay-images", g_root);
	if ((r = remote_image_init(home)) != 0)
		return fprintf(stderr, "remote_image_init: %d\n", r), 1;
	load_at_start();
	if ((r = remote_start_refresh_thread(&g_remote_lock)) != 0)
		return fprintf(stderr, "remote_start_refresh_thread: %d\n", r), 1;
	/* Detached: never joined (a hook left hanging holds the lock they wait for). */
	pthread_create(&reader_thread, NULL, reader, NULL);
	pthread_detach(reader_thread);
	if (g_pull_ms > 0) {
		pthread_create(&pull_thread, NULL, puller, NULL);
		pthread_detach(pull_thread);
	}
	say("started", g_root);

	sigwait(&stop, &sig);
	if (strcmp(on_term, "exit") == 0 || strcmp(on_term, "exit_locked") == 0) {
		/* oci_exit -> storage_module_exit: no remote_maintain_cleanup(). */
		if (strcmp(on_term, "exit_locked") == 0)
			pthread_rwlock_rdlock(&g_remote_lock);
		say_figures();
		exit(0);
	}
	if (strcmp(on_term, "cleanup_locked") == 0)
		pthread_rwlock_rdlock(&g_remote_lock);
	remote_maintain_cleanup();
	say("cleanup_returned", on_term);
	if (strcmp(on_term, "cleanup_locked") == 0)
		pthread_rwlock_unlock(&g_remote_lock);
	pthread_mutex_lock(&g_mutex);
	g_stop_threads = 1;
	pthread_mutex_unlock(&g_mutex);
	say_figures();
	return 0;
}

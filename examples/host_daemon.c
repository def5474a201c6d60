/* A small C host daemon that embeds layerwatch in its own libuv loop, as iSulad
 * would: the loop also runs a timer of the daemon's own, events are printed as they
 * come, SIGUSR1 lists the images it can run, SIGTERM or SIGINT stops it cleanly.
 * usage: host_daemon STORAGE_ROOT */
#include <layerwatch/layerwatch.h>

#include <uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct daemon_state {
	lw_watcher *watcher;
	uv_timer_t work;
	uv_signal_t list_signal, term_signal, int_signal;
	unsigned long ticks;
};

static void on_event(const lw_event *e, void *user)
{
	size_t i;
	(void)user;
	printf("event %s", e->name);
	if (e->id[0])
		printf(" %s", e->id);
	for (i = 0; i < e->names_len; ++i)
		printf(" %s", e->names[i]);
	if (e->type == LW_EVENT_PENDING)
		printf(" (%s: %s)", e->kind, e->reason);
	if (e->type == LW_EVENT_READY)
		printf(" images=%zu layers=%zu pending=%zu", e->images, e->layers, e->pending);
	printf("\n");
	fflush(stdout);
}

static void on_log(lw_log_level level, const char *message, void *user)
{
	(void)user;
	if (level >= LW_LOG_WARNING)
		fprintf(stderr, "host_daemon: layerwatch: %s\n", message);
}

/* The daemon's own work, to show the watcher shares the loop politely. */
static void on_work(uv_timer_t *timer)
{
	struct daemon_state *state = timer->data;
	state->ticks++;
}

static void list_images(struct daemon_state *state)
{
	lw_image *images = NULL;
	size_t count = 0, i, n;
	int r = lw_image_list(state->watcher, &images, &count);
	if (r < 0) {
		fprintf(stderr, "host_daemon: listing: %s\n", lw_strerror(r));
		return;
	}
	printf("images %zu\n", count);
	for (i = 0; i < count; ++i) {
		char **chain = NULL;
		size_t depth = 0;
		if (lw_image_chain(state->watcher, images[i].id, &chain, &depth) == 0)
			lw_strv_free(chain, depth);
		printf("image %s layers=%zu", images[i].id, depth);
		for (n = 0; n < images[i].names_len; ++n)
			printf(" %s", images[i].names[n]);
		printf("\n");
	}
	fflush(stdout);
	lw_image_list_free(images, count);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct daemon_state *state = handle->data;
	if (signum == SIGUSR1) {
		list_images(state);
		return;
	}
	/* Stop: the watcher closes its handles, we close ours, and the loop ends. */
	lw_stop(state->watcher);
	uv_close((uv_handle_t *)&state->work, NULL);
	uv_close((uv_handle_t *)&state->list_signal, NULL);
	uv_close((uv_handle_t *)&state->term_signal, NULL);
	uv_close((uv_handle_t *)&state->int_signal, NULL);
}

int main(int argc, char **argv)
{
	struct daemon_state state = {0};
	lw_options options;
	uv_loop_t loop;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: host_daemon STORAGE_ROOT\n");
		return 2;
	}
	lw_options_init(&options);
	options.root = argv[1];
	options.on_event = on_event;
	options.on_log = on_log;
	r = lw_create(&options, &state.watcher);
	if (r < 0) {
		fprintf(stderr, "host_daemon: %s: %s\n", argv[1], lw_strerror(r));
		return 1;
	}
	uv_loop_init(&loop);
	uv_timer_init(&loop, &state.work);
	state.work.data = &state;
	uv_timer_start(&state.work, on_work, 100, 100);
	uv_signal_init(&loop, &state.list_signal);
	uv_signal_init(&loop, &state.term_signal);
	uv_signal_init(&loop, &state.int_signal);
	state.list_signal.data = state.term_signal.data = state.int_signal.data = &state;
	uv_signal_start(&state.list_signal, on_signal, SIGUSR1);
	uv_signal_start(&state.term_signal, on_signal, SIGTERM);
	uv_signal_start(&state.int_signal, on_signal, SIGINT);

	r = lw_attach(state.watcher, &loop);
	if (r < 0) {
		fprintf(stderr, "host_daemon: attach: %s\n", lw_strerror(r));
		on_signal(&state.term_signal, SIGTERM);
	}
	uv_run(&loop, UV_RUN_DEFAULT);

	if (!lw_is_closed(state.watcher) && r == 0)
		fprintf(stderr, "host_daemon: watcher still open after the loop ended\n");
	lw_destroy(state.watcher);
	r = uv_loop_close(&loop);
	printf("host_daemon: stopped after %lu ticks, loop %s\n", state.ticks, r == 0 ? "closed" : "busy");
	return r == 0 ? 0 : 1;
}

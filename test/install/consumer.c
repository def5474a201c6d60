/* A tiny C consumer built against the installed pkg-config file. */
#include <layerwatch/layerwatch.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	lw_options options;
	lw_watcher *watcher = NULL;
	int r;
	if (argc != 2)
		return 2;
	lw_options_init(&options);
	options.root = argv[1];
	r = lw_create(&options, &watcher);
	if (r != 0) {
		fprintf(stderr, "consumer: %s\n", lw_strerror(r));
		return 1;
	}
	lw_destroy(watcher);
	options.root = "/nonexistent/layerwatch-consumer";
	r = lw_create(&options, &watcher);
	if (r != -ENOENT || strlen(lw_strerror(r)) == 0)
		return 3;
	printf("consumer: ok\n");
	return 0;
}

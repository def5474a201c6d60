/* A client written only against the seed's eight functions (and libc), compiled as
 * C99: it builds an RO layer and an image the way iSulad's storage code does, and
 * waits until the refresh thread has committed the layer (made its short link).
 * usage: seed_client STORAGE_ROOT LAYER_ID IMAGE_ID */
#include <layerwatch/layerwatch.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(content, f);
	return fclose(f);
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int main(int argc, char **argv)
{
	char path[4096], home[4096], body[1024];
	const char *root, *layer, *image;
	struct timespec pause = {0, 20 * 1000 * 1000};
	int i;

	if (argc != 4)
		return 2;
	root = argv[1], layer = argv[2], image = argv[3];
	snprintf(home, sizeof(home), "%s/overlay-layers", root);
	if (remote_layer_init(home) != 0)
		return 10;
	snprintf(home, sizeof(home), "%s/overlay", root);
	if (remote_overlay_init(home) != 0)
		return 11;
	if (start_refresh_thread() != 0)
		return 12;

	/* The overlay: iSulad's driver fills it through the link build_ro_dir made. (What
	 * failed is told, here and below: a rare failure under a loaded test run.) */
	if ((i = remote_overlay_build_ro_dir(layer)) != 0) {
		fprintf(stderr, "seed client: remote_overlay_build_ro_dir: %d (%s)\n", i, strerror(i < 0 ? -i : i));
		return 13;
	}
	snprintf(path, sizeof(path), "%s/overlay/%s/diff", root, layer);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/overlay/%s/empty", root, layer);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/overlay/%s/link", root, layer);
	write_file(path, "seedclientlinkabcdefghijkl");
	/* The layer's metadata, the same way. */
	if ((i = remote_layer_build_ro_dir(layer)) != 0) {
		fprintf(stderr, "seed client: remote_layer_build_ro_dir: %d (%s)\n", i, strerror(i < 0 ? -i : i));
		return 14;
	}
	snprintf(path, sizeof(path), "%s/overlay-layers/%s/%s.tar-split.gz", root, layer, layer);
	write_file(path, "gz");
	snprintf(path, sizeof(path), "%s/overlay-layers/%s/layer.json", root, layer);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"names\":[\"seed-layer\"]}", layer);
	write_file(path, body);

	/* The image, manifest last. */
	snprintf(path, sizeof(path), "%s/overlay-images/%s", root, image);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/overlay-images/%s/images.json", root, image);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"names\":[\"seed:latest\"],\"layer\":\"%s\",\"big-data-names\":[\"manifest\"]}", image, layer);
	write_file(path, body);
	snprintf(path, sizeof(path), "%s/overlay-images/%s/manifest", root, image);
	write_file(path, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
			 "\"config\":{\"digest\":\"sha256:x\"},\"layers\":[]}");

	/* The refresh thread commits the layer: its short link appears. */
	snprintf(path, sizeof(path), "%s/overlay/l/seedclientlinkabcdefghijkl", root);
	for (i = 0; i < 500 && !exists(path); ++i)
		nanosleep(&pause, NULL);
	if (!exists(path))
		return 15;

	/* A second layer built and removed again: nothing of it may stay. */
	if ((i = remote_overlay_build_ro_dir("0000000000000000000000000000000000000000000000000000000000000001")) != 0) {
		fprintf(stderr, "seed client: remote_overlay_build_ro_dir: %d (%s)\n", i, strerror(i < 0 ? -i : i));
		return 16;
	}
	if (remote_overlay_remove_ro_dir("0000000000000000000000000000000000000000000000000000000000000001") != 0)
		return 17;
	snprintf(path, sizeof(path), "%s/overlay/RO/0000000000000000000000000000000000000000000000000000000000000001", root);
	if (exists(path))
		return 18;
	if (remote_layer_build_ro_dir("../escape") == 0)
		return 19;
	/* Any one plain name is an id to these (iSulad's own unit test builds "foo");
	 * "." and ".." are not. */
	if (remote_layer_build_ro_dir("foo") != 0 || remote_layer_remove_ro_dir("foo") != 0)
		return 20;
	snprintf(path, sizeof(path), "%s/overlay-layers/RO/foo", root);
	if (exists(path))
		return 21;
	if (remote_layer_build_ro_dir(".") == 0 || remote_layer_build_ro_dir("..") == 0 ||
	    remote_overlay_remove_ro_dir("..") == 0)
		return 22;

	remote_maintain_cleanup();
	printf("seed client: done\n");
	return 0;
}

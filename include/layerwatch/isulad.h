/* A drop-in for iSulad's remote-layer module (src/daemon/modules/image/oci/storage/
 * remote_layer_support/: ro_symlink_maintain.h and remote_support.h), for iSulad built
 * with ENABLE_REMOTE_LAYER_STORE. Compiles as C99. Link with pkg-config's
 * layerwatch-isulad (README, "Using layerwatch in iSulad").
 *
 * The three init functions name the homes (<storage>/overlay-images,
 * <storage>/overlay-layers, <storage>/overlay), whose parent is the storage root.
 * remote_start_refresh_thread() follows that root (events on local trees, a periodic
 * rescan on network ones; the environment's LAYERWATCH_MODE, when set, chooses the
 * kernel source: auto, inotify, fanotify or poll, else -EINVAL), makes the local
 * links of RO layers, and tells iSulad's
 * stores through the four hooks iSulad defines (below):
 *  - layers parent-first, an image only after its whole chain; on removal, images
 *    before their layers, children before parents;
 *  - each call with remote_lock held for writing, and the lock held for nothing else
 *    (no filesystem I/O happens under it);
 *  - a hook that fails (not 0) is called again a second later, up to five times in
 *    its place, then after the other changes; an image re-tagged in place is removed
 *    and appended again.
 * It returns -ENOSYS when the hooks are not defined (the host is not iSulad).
 * remote_maintain_cleanup() stops it and forgets the homes.
 *
 * Every function returns 0 or a negative errno value. pthread_rwlock_t needs POSIX:
 * build with -std=gnu99 (as iSulad does) or define _POSIX_C_SOURCE 200809L. */
#ifndef LAYERWATCH_ISULAD_H
#define LAYERWATCH_ISULAD_H

#include <layerwatch/layerwatch.h>

#include <pthread.h>

#ifdef __cplusplus
extern "C" {
#endif

LW_C_EXPORT int remote_image_init(const char *root_dir);
LW_C_EXPORT int remote_start_refresh_thread(pthread_rwlock_t *remote_lock);
/* remote_layer_init, remote_overlay_init, remote_maintain_cleanup and the four
 * build/remove functions are layerwatch.h's. build_ro_dir and remove_ro_dir take any
 * id that is one plain path component (not "." or "..", no "/"). */

/* Defined by iSulad (its image and layer stores); each returns 0 on success. */
int remote_load_one_layer(const char *id);
int remote_layer_remove_memory_stores_with_lock(const char *id);
int remote_append_image_by_directory_with_lock(const char *id);
int remote_remove_image_from_memory_with_lock(const char *id);

#ifdef __cplusplus
}
#endif

#endif

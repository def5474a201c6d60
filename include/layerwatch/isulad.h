/* A drop-in for iSulad's remote-layer module (src/daemon/modules/image/oci/storage/
 * remote_layer_support/: ro_symlink_maintain.h and remote_support.h), for iSulad built
 * with ENABLE_REMOTE_LAYER_STORE. Compiles as C99. Link with pkg-config's
 * layerwatch-isulad (README, "Using layerwatch in iSulad"; contrib/isulad/ holds the
 * patch to iSulad's build). Where iSulad relies on upstream's module it behaves as
 * upstream does (docs/BEHAVIOUR.md, "As iSulad's module").
 *
 * The three init functions name the homes (<storage>/overlay-images,
 * <storage>/overlay-layers, <storage>/overlay), whose parent is the storage root. Their
 * paths are resolved once, symlinks included (the operator's configuration: e.g.
 * /var/lib/isulad linked to a data volume); below them no symlink is followed.
 * remote_start_refresh_thread() follows that root (events on local trees, a periodic
 * rescan on network ones) and tells iSulad's stores through the four hooks iSulad
 * defines (below), on a thread of its own ("lw-hooks"):
 *  - layers parent-first, an image only after its whole chain; on removal, images
 *    before their layers, children before parents;
 *  - each call with remote_lock held for writing, together with the local links that
 *    go with it: a layer's overlay/<id>, overlay-layers/<id> and overlay/l/<link> are
 *    made right before remote_load_one_layer (and taken back if it fails), removed
 *    right after remote_layer_remove_memory_stores_with_lock, so that a pull, holding
 *    the lock for reading, never finds a link without its layer in memory. Those few
 *    local link calls are all the filesystem work under the lock: nothing that reads
 *    the share runs under it;
 *  - what iSulad loaded at start stays: no link whose RO folder exists is removed at
 *    start (a dangling one is), and an item that leaves the share gets its removal
 *    hook whether or not layerwatch ever found it ready;
 *  - an image re-tagged in place is removed and appended again under one hold of the
 *    lock;
 *  - a hook that fails (not 0) is called again once per LAYERWATCH_HOOK_RETRY_MS
 *    (5000: upstream's refresh period); what needs it waits behind it, the rest goes
 *    on. It is logged once, and once more when it recovers.
 * The environment: LAYERWATCH_MODE chooses the kernel source (auto, inotify, fanotify
 * or poll); LAYERWATCH_LOG_LEVEL what reaches stderr, iSulad's journal, as
 * "<N>layerwatch: ..." lines (debug, info, warning: the default, error);
 * LAYERWATCH_HOOK_RETRY_MS the retry period (100 to 3600000). A bad value: -EINVAL.
 * It returns -ENOSYS when the hooks are not defined (the host is not iSulad).
 *
 * iSulad exits without calling remote_maintain_cleanup(): nothing of ours waits at
 * exit() (no destructor of ours joins a thread; the hook thread is detached, as
 * upstream's). remote_maintain_cleanup(), when
 * called, stops the watcher and the hook thread and forgets the homes; it gives up a
 * wait for the lock (it may be called with the read lock held), waits for a hook in
 * progress up to 1.5 s, and may be called from inside a hook.
 *
 * Every function returns 0 or a negative errno value, and lw_last_error() says why.
 * pthread_rwlock_t needs POSIX: build with -std=gnu99 (as iSulad does) or define
 * _POSIX_C_SOURCE 200809L. */
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

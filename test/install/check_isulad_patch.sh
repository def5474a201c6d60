#!/bin/sh
# The packager's path (README, "Using layerwatch in iSulad"): contrib/isulad's patch
# applies to iSulad's own build files, kept in test/data/isulad-upstream/ as upstream
# has them, and leaves the module's headers in place.
#   check_isulad_patch.sh PATCH UPSTREAM_COPY
set -eu
patch=$1
upstream=$2
command -v git >/dev/null || { echo "git not found: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$upstream/src" "$work/src"
cd "$work"
git apply --check "$patch"
git apply "$patch"
# The sources list is empty; the include folder stays; the daemon links our module.
grep -q 'set(REMOTE_LAYER_SUPPORT_SRCS' src/daemon/modules/image/oci/storage/remote_layer_support/CMakeLists.txt
! grep -q aux_source_directory src/daemon/modules/image/oci/storage/remote_layer_support/CMakeLists.txt
grep -q 'REMOTE_LAYER_SUPPORT_INCS' src/daemon/modules/image/oci/storage/remote_layer_support/CMakeLists.txt
grep -q 'pkg_check_modules(LAYERWATCH REQUIRED IMPORTED_TARGET layerwatch-isulad)' src/CMakeLists.txt
grep -q 'target_link_libraries(isulad PkgConfig::LAYERWATCH)' src/CMakeLists.txt
echo "contrib/isulad/layerwatch.patch applies"

#!/usr/bin/env bash
# `meson install` into a scratch folder, then a tiny C consumer built only from the
# installed pkg-config file, headers and library.
# usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >/dev/null
pc=$(find "$dest" -name layerwatch.pc | head -n 1)
[ -n "$pc" ] || { echo "no layerwatch.pc installed"; exit 1; }
for f in layerwatch.h watcher.h store.h model.h writer.h isulad.h version.h; do
  [ -n "$(find "$dest" -path "*/include/layerwatch/$f")" ] || { echo "header $f not installed"; exit 1; }
done
program=$(find "$dest" -name layerwatch -type f -perm -u+x | head -n 1)
[ -n "$program" ] || { echo "program not installed"; exit 1; }
# What a host needs beside it: the unit, the completion, and the man page where
# scdoc built it (the docs test says whether it renders).
for f in lib/systemd/system/layerwatch.service share/bash-completion/completions/layerwatch; do
  [ -n "$(find "$dest" -path "*/$f")" ] || { echo "$f not installed"; exit 1; }
done
if [ -f "$build/docs/layerwatch.1" ]; then
  [ -n "$(find "$dest" -path '*/man/man1/layerwatch.1')" ] || { echo "man page not installed"; exit 1; }
fi
grep -q "^ExecStart=.*/bin/layerwatch watch " "$(find "$dest" -name layerwatch.service)" ||
  { echo "the unit's ExecStart does not name the installed program"; exit 1; }
# It finds its library by its own rpath (the prefix's libdir), whatever the prefix.
readelf -d "$program" | grep -qE 'R(UN)?PATH' || { echo "program has no install rpath"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
flags=$(pkg-config --cflags --libs layerwatch)
cc -std=c99 -Wall -Werror -o "$dest/consumer" "$source/test/install/consumer.c" $flags
libdir=$(dirname "$(find "$dest" -name 'liblayerwatch.so*' | head -n 1)")
mkdir -p "$dest/root"
LD_LIBRARY_PATH=$libdir "$dest/consumer" "$dest/root"

# iSulad's way in: the fake iSulad built from layerwatch-isulad alone, run on an empty
# store until SIGTERM, after which it says its figures.
flags=$(pkg-config --cflags --libs layerwatch-isulad)
cc -std=gnu99 -Wall -Werror -o "$dest/fake_isulad" "$source/test/isulad/fake_isulad.c" $flags -lpthread
mkdir -p "$dest/isulad/overlay/RO" "$dest/isulad/overlay-layers/RO" "$dest/isulad/overlay-images"
out=$(LD_LIBRARY_PATH=$libdir timeout -s TERM 2 "$dest/fake_isulad" "$dest/isulad" || true)
grep -q '^started ' <<<"$out" || { echo "fake iSulad did not start: $out"; exit 1; }
grep -q '^violations 0$' <<<"$out" || { echo "fake iSulad: $out"; exit 1; }

# Before any install: the same consumer from the uninstalled pkg-config file, against
# the headers in the source tree and the library in the build folder.
flags=$(PKG_CONFIG_PATH=$build/meson-uninstalled PKG_CONFIG_SYSROOT_DIR= pkg-config --cflags --libs layerwatch)
cc -std=c99 -Wall -Werror -o "$dest/consumer-uninstalled" "$source/test/install/consumer.c" $flags
mkdir -p "$dest/root2"
LD_LIBRARY_PATH=$build/src "$dest/consumer-uninstalled" "$dest/root2"

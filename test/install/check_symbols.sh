#!/usr/bin/env bash
# The library exports its API and nothing else of its own: the dynamic symbols in
# layerwatch's names (lw::, lw_*, the seed's and iSulad's functions) must be exactly
# those of exported_api.txt. (Weak instances of the standard library's templates are
# not layerwatch's to list.) After a deliberate API change, regenerate the list with
#   test/install/check_symbols.sh build/src/liblayerwatch.so > test/install/exported_api.txt
# usage: check_symbols.sh LIBRARY [ALLOWLIST]
set -euo pipefail
lib=$1 allow=${2:-}
ours() {
  nm -D --defined-only "$lib" | awk '{print $3}' | c++filt |
    grep -E '^(lw::|lw_|remote_|start_refresh_thread|typeinfo for lw::|vtable for lw::)' | LC_ALL=C sort -u
}
if [[ -z $allow ]]; then
  ours
  exit 0
fi
if ! diff -u "$allow" <(ours); then
  echo "exported symbols differ from $allow (+: exported but not listed, -: listed but missing)"
  exit 1
fi
echo "$(wc -l <"$allow") symbols, as listed"

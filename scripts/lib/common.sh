# Shared by scripts/*: install what is missing, then configure and build.
# Sourced, not run.

# Debian packages the build and the tests need.
LW_PACKAGES=(meson ninja-build pkg-config g++ python3
             libuv1-dev rapidjson-dev libfmt-dev doctest-dev
             bindfs fuse3 libfuse3-dev
             scdoc man-db)

lw_missing_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]}"
}

lw_install_packages() {
  local missing
  missing=$(lw_missing_packages "${LW_PACKAGES[@]}" "$@")
  [ -z "$missing" ] && return 0
  echo "layerwatch: installing $missing" >&2
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "layerwatch: need root (or sudo) to install: $missing" >&2; return 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}

# lw_build BUILDDIR [meson setup args...]: configure once, then build.
lw_build() {
  local builddir=$1; shift
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$@" >&2
  fi
  meson compile -C "$builddir" >&2
}

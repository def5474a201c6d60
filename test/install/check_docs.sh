#!/usr/bin/env bash
# What comes with the program agrees with it: the man page renders without a warning
# and names every long option each command's --help lists; the bash completion offers
# exactly those options and completes commands and values; the systemd unit passes
# systemd-analyze verify (with ExecStart pointed at this build).
# usage: check_docs.sh LAYERWATCH MAN_PAGE COMPLETION UNIT_FILE  (77: a tool is missing)
set -euo pipefail
exe=$1 page=$2 completion=$3 unit=$4
fail() { echo "check_docs: $*" >&2; exit 1; }
command -v man >/dev/null && [ -f "$page" ] || { echo "skipped: needs man and the built page (scdoc)"; exit 77; }

# The page renders, with no warning from man or groff.
warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || fail "man -l failed"
[ -z "$warnings" ] || fail "man warnings: $warnings"
rendered=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
# The page's words as written (rendering hyphenates long options across lines).
words=$(sed -e 's/\\-/-/g' -e 's/\\f[BIR]//g' "$page")
for heading in NAME SYNOPSIS COMMANDS "RUNNING AS A SERVICE" METRICS "EXIT STATUS"; do
  grep -q "^$heading" <<<"$rendered" || fail "no $heading section"
done

# shellcheck source=/dev/null
source "$completion"
complete_line() { # complete_line WORD... : COMPREPLY for the last word, sorted
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _layerwatch
  printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' '
}
[ "$(complete_line layerwatch wa)" = "watch " ] || fail "command completion: $(complete_line layerwatch wa)"
[ "$(complete_line layerwatch watch --mode '')" = "auto fanotify inotify poll " ] || fail "mode completion"
[ "$(complete_line layerwatch images --format j)" = "json " ] || fail "format completion"

for command in scan images watch publish rmi gc demo; do
  # Every command takes --help, which its help text need not list.
  help_options=$({ "$exe" "$command" --help | grep -oE -- '--[a-z][a-z-]+'; echo --help; } | LC_ALL=C sort -u | tr '\n' ' ')
  offered=$(complete_line layerwatch "$command" -- | tr ' ' '\n' | grep -E -- '^--' | LC_ALL=C sort -u | tr '\n' ' ')
  [ "$help_options" = "$offered" ] || fail "$command: --help lists '$help_options', completion offers '$offered'"
  for option in $help_options; do
    grep -qF -- "$option" <<<"$words" || fail "$command: the man page does not mention $option"
  done
done

if command -v systemd-analyze >/dev/null; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sed "s|@BINDIR@/layerwatch|$exe|" "$unit" >"$tmp/layerwatch.service"
  out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/layerwatch.service" 2>&1) ||
    fail "systemd-analyze verify: $out"
  # Type=notify is what makes READY=1 count.
  grep -qx "Type=notify" "$unit" || fail "the unit is not Type=notify"
  [ -z "$out" ] || echo "systemd-analyze says: $out"
else
  echo "systemd-analyze missing: unit not verified"
fi
echo "man page, completion and unit agree with the program"

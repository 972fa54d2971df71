#!/usr/bin/env bash
# scripts/uninstall.sh: reverse scripts/install.sh. Stops and removes the
# services, the tools, man pages and completions. KIT_HOME (the DB, logs and
# backups) is kept unless --purge.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
templates="$root/scripts/service"

usage() {
    cat <<'EOF'
usage: scripts/uninstall.sh [--user | --system] [options]

Give the same --user/--system, --prefix and --service-dir as to install.sh.

  --user | --system  which install to remove (default: --user)
  --prefix DIR       where it was installed
  --home DIR         its KIT_HOME (default: the one install.sh recorded)
  --purge            also delete KIT_HOME: the DB, its history, logs, backups
  --print            show what would be removed; change nothing
  --service-dir DIR  the service definitions were written to DIR (not loaded)
  --platform P       linux or macos (default: this machine's)
EOF
}

die() { echo "uninstall.sh: $*" >&2; exit 2; }

mode=user
prefix=""
home=""
run_as=""
print=0
purge=0
service_dir=""
platform=""
start=0
service_path=""

while [ $# -gt 0 ]; do
    case "$1" in
        --user) mode=user; shift ;;
        --system) mode=system; shift ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
        --home) [ $# -ge 2 ] || die "--home needs a directory"; home=$2; shift 2 ;;
        --purge) purge=1; shift ;;
        --print) print=1; shift ;;
        --service-dir) [ $# -ge 2 ] || die "--service-dir needs a directory"; service_dir=$2; shift 2 ;;
        --platform) [ $# -ge 2 ] || die "--platform needs linux or macos"; platform=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

home_given=$home
# shellcheck source=scripts/service/common.sh
. "$root/scripts/service/common.sh"
resolve_layout

manifest="$prefix/share/kit/install-manifest"
files=""
dirs=""
loaded=""
if [ -f "$manifest" ]; then
    while read -r key value; do
        case "$key" in
            file) files="$files$value
" ;;
            dir) dirs="$dirs$value
" ;;
            home) [ -n "$home_given" ] || home=$value ;;
            loaded) loaded=$value ;;
        esac
    done <"$manifest"
else
    say "no install manifest at $manifest: removing the default set of files"
    for t in kit-tick kit-run kit-keep kit-heal kit-ctl kit-db; do
        files="$files$prefix/bin/$t
$prefix/share/man/man1/$t.1
$prefix/share/bash-completion/completions/$t
$prefix/share/zsh/site-functions/_$t
$prefix/share/fish/vendor_completions.d/$t.fish
"
    done
    files="$files$unit_dir/kit-keep.service
$unit_dir/kit-tick.service
$unit_dir/kit-tick.timer
$unit_dir/$keep_label.plist
$unit_dir/$tick_label.plist
"
    if [ "$load" = 1 ]; then
        if [ "$platform" = linux ] && [ -f "$unit_dir/kit-keep.service" ] && systemd_running; then
            loaded=systemd
        elif [ "$platform" = macos ] && [ -f "$unit_dir/$keep_label.plist" ]; then
            if [ "$mode" = user ]; then loaded="launchd gui/$(id -u)"; else loaded="launchd system"; fi
        fi
    fi
fi

# Services first, so nothing is started from files about to disappear.
if [ -n "$loaded" ] && [ "$load" = 1 ]; then
    unload_services "$loaded"
fi

printf '%s' "$files" | while IFS= read -r f; do
    [ -n "$f" ] || continue
    if [ -e "$f" ] || [ -L "$f" ]; then
        if [ "$print" = 1 ]; then say "would remove $f"; else rm -f "$f"; fi
    fi
done
if [ -f "$manifest" ]; then
    if [ "$print" = 1 ]; then say "would remove $manifest"; else rm -f "$manifest"; fi
fi
# The directories install.sh created, deepest first, if nothing else is in them.
printf '%s' "$dirs" | sed -e '/^$/d' | sort -r | while IFS= read -r d; do
    if [ "$print" = 1 ]; then say "would remove $d if empty"; else rmdir "$d" 2>/dev/null || true; fi
done
if [ "$loaded" = systemd ] && [ "$load" = 1 ]; then
    run_or_say systemctl "$scope" daemon-reload || true
fi

if [ "$purge" = 1 ]; then
    if [ ! -d "$home" ]; then
        say "no KIT_HOME at $home"
    elif [ "$home" = / ] || [ "$home" = "$HOME" ] || { [ ! -e "$home/kit.db" ] && [ -n "$(ls -A "$home")" ]; }; then
        die "--purge: $home does not look like a KIT_HOME (no kit.db); remove it yourself"
    elif [ "$print" = 1 ]; then
        say "would delete $home (the DB, logs and backups)"
    else
        rm -rf "$home"
        say "deleted $home"
    fi
else
    [ "$print" = 1 ] || say "kit is uninstalled; kept $home (the DB, logs and backups). --purge deletes it."
fi

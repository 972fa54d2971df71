# shellcheck shell=bash
# The variables are set and read by the sourcing script (SC2154, SC2034).
# shellcheck disable=SC2154,SC2034
# Shared by scripts/install.sh and scripts/uninstall.sh (sourced, not run):
# where things go for each platform and mode, and how the service
# definitions are rendered from the templates in this directory.
# Expects: root templates mode prefix home run_as print service_dir platform
# start, and service_path (may be empty).
#
# Runs under macOS's BSD userland and bash 3.2 as well as GNU/Linux: no GNU-only
# flags (sed -i, readlink -f, stat -c, date -d, mktemp --, xargs -r), no bash 4
# features. tests/service.rs shellchecks it.

say() { echo "$*"; }
warn() { echo "$(basename "$0"): $*" >&2; }

# The nearest existing ancestor of a path (for permission checks).
nearest_dir() {
    local d=$1
    while [ ! -d "$d" ]; do d=$(dirname "$d"); done
    echo "$d"
}

abs_path() {
    case "$1" in
        /*) echo "$1" ;;
        *) echo "$PWD/$1" ;;
    esac
}

# Creates a directory (and its parents), recording each one it creates so
# that uninstall.sh removes exactly those (when they are empty again).
ensure_dir() {
    local d=$1
    while [ ! -d "$d" ]; do
        record_dir "$d"
        d=$(dirname "$d")
    done
    if [ "$print" = 1 ]; then
        [ -d "$1" ] || say "would create $1"
    else
        mkdir -p "$1"
    fi
}

resolve_layout() {
    if [ -z "$platform" ]; then
        case "$(uname -s)" in
            Darwin) platform=macos ;;
            Linux) platform=linux ;;
            *) platform=other ;;
        esac
    fi
    case "$platform" in linux | macos | other) ;; *) die "--platform: linux or macos, not $platform" ;; esac
    if [ "$mode" = user ]; then
        [ -n "$prefix" ] || prefix="$HOME/.local"
        [ -n "$home" ] || home="${KIT_HOME:-$HOME/.kit}"
        run_as=$(id -un)
    else
        [ -n "$prefix" ] || prefix=/usr/local
        # macOS has no /var/lib; /usr/local/var is where /usr/local software
        # keeps its state there.
        if [ -z "$home" ]; then
            case "$platform" in macos) home=/usr/local/var/kit ;; *) home=/var/lib/kit ;; esac
        fi
        [ -n "$run_as" ] || run_as="${SUDO_USER:-$(id -un)}"
    fi
    prefix=$(abs_path "$prefix")
    home=$(abs_path "$home")
    case "$platform/$mode" in
        linux/user) unit_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user" ;;
        linux/system) unit_dir=/etc/systemd/system ;;
        macos/user) unit_dir="$HOME/Library/LaunchAgents" ;;
        macos/system) unit_dir=/Library/LaunchDaemons ;;
        *) unit_dir="" ;;
    esac
    # An explicit directory is only written to: nothing is loaded from it.
    load=1
    if [ -n "$service_dir" ]; then
        unit_dir=$(abs_path "$service_dir")
        load=0
    fi
    # The PATH the services run with: launchd gives a job only
    # /usr/bin:/bin:/usr/sbin:/sbin, and Homebrew lives in /opt/homebrew
    # (Apple Silicon) or /usr/local (Intel). kit's own bin directory first.
    [ -n "$service_path" ] || service_path=${KIT_SERVICE_PATH:-}
    if [ -z "$service_path" ]; then
        case "$platform" in
            macos) service_path=/opt/homebrew/bin:/opt/homebrew/sbin:/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin ;;
            *) service_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin ;;
        esac
        case ":$service_path:" in
            *":$prefix/bin:"*) ;;
            *) service_path="$prefix/bin:$service_path" ;;
        esac
    fi
    case ":$service_path:" in
        *::* | *:[!/]*) die "--path: a list of absolute directories separated by ':', not $service_path" ;;
    esac
    keep_label=local.kit.kit-keep
    tick_label=local.kit.kit-tick
    if [ "$mode" = user ]; then scope=--user; else scope=--system; fi
}

systemd_running() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

cron_hint() {
    say "Without a service manager, run kit-tick from cron (crontab -e), and kit-keep"
    say "from cron at boot or, better, under a supervisor that restarts it (runit, s6):"
    say "    * * * * * KIT_HOME=$home $prefix/bin/kit-tick --exec"
    say "    @reboot   KIT_HOME=$home $prefix/bin/kit-keep >>$home/logs/kit-keep.err.log 2>&1"
}

# Values as each format needs them: XML escapes for plists; for systemd,
# escapes inside double quotes and % (which starts a specifier) doubled.
xml_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
unit_escape() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/%/%%/g'; }

# render TEMPLATE FORMAT -> stdout, replacing @BIN@ @KIT_HOME@ @PATH@ @LABEL@
# @USER_LINE@ @USER_KEYS@ @WANTED_BY@ literally (values go through the
# environment, so nothing in them is interpreted).
render() {
    local esc=unit_escape
    [ "$2" = plist ] && esc=xml_escape
    local user_line="" user_keys="" label=""
    if [ "$mode" = system ]; then
        user_line="User=$(unit_escape "$run_as")"
        user_keys="	<key>UserName</key>
	<string>$(xml_escape "$run_as")</string>
"
    fi
    case "$1" in *kit-keep*) label=$keep_label ;; *) label=$tick_label ;; esac
    F_BIN=$($esc "$prefix/bin") F_HOME=$($esc "$home") F_PATH=$($esc "$service_path") F_LABEL=$label \
    F_USER_LINE=$user_line F_USER_KEYS=$user_keys \
    F_WANTED=$([ "$mode" = user ] && echo default.target || echo multi-user.target) \
    awk '
        function rep(s, k, v,    i, out) {
            out = ""
            while ((i = index(s, k)) > 0) { out = out substr(s, 1, i - 1) v; s = substr(s, i + length(k)) }
            return out s
        }
        $0 == "@USER_KEYS@" { printf "%s", ENVIRON["F_USER_KEYS"]; next }
        $0 == "@USER_KEYS@</dict>" { printf "%s</dict>\n", ENVIRON["F_USER_KEYS"]; next }
        {
            l = $0
            l = rep(l, "@BIN@", ENVIRON["F_BIN"])
            l = rep(l, "@KIT_HOME@", ENVIRON["F_HOME"])
            l = rep(l, "@PATH@", ENVIRON["F_PATH"])
            l = rep(l, "@LABEL@", ENVIRON["F_LABEL"])
            l = rep(l, "@USER_LINE@", ENVIRON["F_USER_LINE"])
            l = rep(l, "@WANTED_BY@", ENVIRON["F_WANTED"])
            print l
        }' "$templates/$1"
}

# write_rendered TEMPLATE FORMAT DEST
write_rendered() {
    record "$3"
    if [ "$print" = 1 ]; then
        say "would write $3:"
        render "$1" "$2" | sed 's/^/    | /'
    else
        render "$1" "$2" >"$3.tmp"
        chmod 0644 "$3.tmp"
        mv "$3.tmp" "$3"
    fi
}

# run_or_say CMD...: runs it, or with --print says it would.
run_or_say() {
    if [ "$print" = 1 ]; then
        say "would run: $*"
    else
        "$@"
    fi
}

# launchd. Jobs are loaded with `launchctl bootstrap` and removed with
# `launchctl bootout` in the domain of the install: gui/UID for --user
# (LaunchAgents), system for --system (LaunchDaemons); never the deprecated
# load/unload.

# launchd_loaded DOMAIN LABEL: true while launchd has the job.
launchd_loaded() { launchctl print "$1/$2" >/dev/null 2>&1; }

# launchd_wait_gone DOMAIN LABEL SECONDS: `bootout` returns before launchd
# has released the label (for kit-keep, up to its ExitTimeOut of 90 s while
# it stops its daemons), and a `bootstrap` before then fails with "5:
# Input/output error". Polls until the label is gone; false at the deadline.
launchd_wait_gone() {
    local waited=0
    while launchd_loaded "$1" "$2"; do
        [ "$waited" -lt "$3" ] || return 1
        sleep 1
        waited=$((waited + 1))
    done
}

# launchd_bootout DOMAIN LABEL: stops and removes the job, if loaded, and
# waits until launchd has let go of it.
launchd_bootout() {
    launchd_loaded "$1" "$2" || return 0
    launchctl bootout "$1/$2" 2>/dev/null || true
    if ! launchd_wait_gone "$1" "$2" 120; then
        warn "launchd still has $1/$2 two minutes after launchctl bootout"
        return 1
    fi
}

# launchd_bootstrap DOMAIN PLIST: loads the job, retrying with backoff (1,
# 2, 4, 8 s) while launchd is still letting go of a previous instance.
launchd_bootstrap() {
    local try=1 delay=1 out
    while :; do
        out=$(launchctl bootstrap "$1" "$2" 2>&1) && return 0
        if [ "$try" -ge 5 ]; then
            warn "launchctl bootstrap $1 $2 failed: $out"
            return 1
        fi
        say "launchctl bootstrap $1 $2 failed ($out); trying again in ${delay}s"
        sleep "$delay"
        try=$((try + 1))
        delay=$((delay * 2))
    done
}

# launchd_replace DOMAIN LABEL PLIST: (re)loads a job; a reinstall replaces
# the loaded one. `enable` clears a `launchctl disable` left from before,
# which launchd remembers across bootouts and which makes bootstrap fail.
launchd_replace() {
    if [ "$print" = 1 ]; then
        say "would run: launchctl bootout $1/$2 (if loaded) and wait until launchd releases it"
        say "would run: launchctl enable $1/$2"
        say "would run: launchctl bootstrap $1 $3"
        return 0
    fi
    launchd_bootout "$1" "$2" || return 1
    launchctl enable "$1/$2" 2>/dev/null || true
    launchd_bootstrap "$1" "$3"
}

launchd_hints() {
    if [ "$mode" = user ]; then
        say "Note: LaunchAgents (--user) run only while you are logged in at the Mac's"
        say "console: after a reboot without automatic login (FileVault turns it off) or"
        say "a logout, kit-tick and kit-keep do not run, and an SSH session alone cannot"
        say "load them. On a headless Mac mini install LaunchDaemons, which run from boot"
        say "as the given user: sudo scripts/install.sh --system --run-as $run_as"
    fi
    say "A sleeping Mac runs nothing; on a server: sudo pmset -a sleep 0 (or turn on"
    say "\"Prevent automatic sleeping\" in System Settings)."
}

install_services() {
    case "$platform" in
        linux)
            if [ "$load" = 1 ] && ! systemd_running; then
                say "systemd is not running here, so no units were installed."
                cron_hint
                return
            fi
            ensure_dir "$unit_dir"
            write_rendered kit-keep.service.in unit "$unit_dir/kit-keep.service"
            write_rendered kit-tick.service.in unit "$unit_dir/kit-tick.service"
            write_rendered kit-tick.timer unit "$unit_dir/kit-tick.timer"
            wrote_services=1
            if [ "$load" = 0 ]; then
                say "wrote the systemd units to $unit_dir (not loaded)."
                return
            fi
            run_or_say systemctl "$scope" daemon-reload
            if [ "$start" = 1 ]; then
                run_or_say systemctl "$scope" enable --now kit-keep.service kit-tick.timer
                loaded="systemd"
            else
                say "start them with: systemctl $scope enable --now kit-keep.service kit-tick.timer"
            fi
            if [ "$mode" = user ]; then
                say "To keep them running while you are logged out: loginctl enable-linger $run_as"
            fi
            ;;
        macos)
            ensure_dir "$unit_dir"
            write_rendered kit-keep.plist.in plist "$unit_dir/$keep_label.plist"
            write_rendered kit-tick.plist.in plist "$unit_dir/$tick_label.plist"
            wrote_services=1
            launchd_hints
            if [ "$load" = 0 ]; then
                say "wrote the launchd property lists to $unit_dir (not loaded)."
                return
            fi
            if [ "$mode" = user ]; then domain="gui/$(id -u)"; else domain=system; fi
            # launchd refuses a LaunchDaemon not owned by root:wheel.
            if [ "$mode" = system ] && [ "$print" = 0 ] && [ "$(id -u)" = 0 ]; then
                chown root:wheel "$unit_dir/$keep_label.plist" "$unit_dir/$tick_label.plist"
            fi
            if [ "$start" = 0 ]; then
                say "start them with: launchctl bootstrap $domain $unit_dir/$keep_label.plist $unit_dir/$tick_label.plist"
                return
            fi
            if [ "$print" = 0 ] && ! launchctl print "$domain" >/dev/null 2>&1; then
                warn "launchd has no $domain domain here (not logged in at the console?): nothing was loaded."
                warn "Log in at the console and run: launchctl bootstrap $domain $unit_dir/$keep_label.plist $unit_dir/$tick_label.plist"
                service_failed="$keep_label $tick_label"
                return
            fi
            for label in $keep_label $tick_label; do
                launchd_replace "$domain" "$label" "$unit_dir/$label.plist" || service_failed="$service_failed $label"
            done
            loaded="launchd $domain"
            ;;
        *)
            cron_hint
            ;;
    esac
}

# Stops and unloads what install_services loaded ($1: the manifest's "loaded" value).
unload_services() {
    case "$1" in
        systemd)
            run_or_say systemctl "$scope" disable --now kit-tick.timer kit-keep.service || true
            ;;
        launchd*)
            local domain=${1#launchd }
            for label in $tick_label $keep_label; do
                if [ "$print" = 1 ]; then
                    say "would run: launchctl bootout $domain/$label"
                else
                    launchd_bootout "$domain" "$label" || true
                fi
            done
            ;;
    esac
}

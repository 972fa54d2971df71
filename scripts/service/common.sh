# shellcheck shell=bash
# The variables are set and read by the sourcing script (SC2154, SC2034).
# shellcheck disable=SC2154,SC2034
# Shared by scripts/install.sh and scripts/uninstall.sh (sourced, not run):
# where things go for each platform and mode, and how the service
# definitions are rendered from the templates in this directory.
# Expects: root templates mode prefix home run_as print service_dir platform start.

say() { echo "$*"; }

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
        [ -n "$home" ] || home=/var/lib/kit
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

# render TEMPLATE FORMAT -> stdout, replacing @BIN@ @KIT_HOME@ @LABEL@
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
    F_BIN=$($esc "$prefix/bin") F_HOME=$($esc "$home") F_LABEL=$label \
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
            if [ "$load" = 0 ]; then
                say "wrote the launchd property lists to $unit_dir (not loaded)."
                return
            fi
            if [ "$mode" = user ]; then domain="gui/$(id -u)"; else domain=system; fi
            if [ "$start" = 1 ]; then
                for label in $keep_label $tick_label; do
                    # A reinstall replaces the loaded job.
                    [ "$print" = 1 ] || launchctl bootout "$domain/$label" 2>/dev/null || true
                    run_or_say launchctl bootstrap "$domain" "$unit_dir/$label.plist"
                done
                loaded="launchd $domain"
            else
                say "start them with: launchctl bootstrap $domain $unit_dir/$keep_label.plist $unit_dir/$tick_label.plist"
            fi
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
                run_or_say launchctl bootout "$domain/$label" || true
            done
            ;;
    esac
}

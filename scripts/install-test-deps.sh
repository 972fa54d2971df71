#!/bin/sh
# Installs what the optional end-to-end checks need, when it is missing:
#   - shellcheck: tests/service.rs lints the scripts a Mac user runs (with
#     CI set, a missing shellcheck fails that test instead of skipping it)
#   - chromium (Debian's package): tests/dashboard.rs loads the page headless
#   - python3 with venv: scripts/check-openapi.sh and scripts/schemathesis.sh
#     pip-install their tools into a venv under target/ (tests/api.rs),
#     scripts/kubernetes-validate.sh (tests/interop_kubernetes.rs)
#   - promtool (Debian's prometheus package): tests/prometheus_rules.rs
#     checks and unit-tests examples/prometheus/kit-rules.yml
#   - the MCP Python SDK (pinned in scripts/pytools.sh), into that venv:
#     tests/mcp.rs drives kit-ctl mcp with it (and fails without it in CI)
# Safe to run again: it installs only what is absent. Exits 0 when everything
# is present afterwards, 1 when something could not be installed (the tests
# that need it then skip with a message saying what is missing).
set -u

have() { command -v "$1" >/dev/null 2>&1; }

chromium_bin() {
    for b in chromium chromium-browser google-chrome; do
        if have "$b"; then echo "$b"; return 0; fi
    done
    return 1
}

python_ok() { have python3 && python3 -m venv --help >/dev/null 2>&1; }

missing=""
have shellcheck || missing="$missing shellcheck"
chromium_bin >/dev/null || missing="$missing chromium fonts-dejavu-core"
python_ok || missing="$missing python3 python3-venv"
have promtool || missing="$missing prometheus"

# The MCP SDK goes into the venv (no root needed), once python3 is there.
mcp_sdk() {
    python_ok || return 1
    . "$(dirname "$0")/pytools.sh"
    if pytools_install "$KIT_MCP_SDK"; then
        echo "install-test-deps: $KIT_MCP_SDK present in the venv"
    else
        echo "install-test-deps: could not install $KIT_MCP_SDK" >&2
        return 1
    fi
}

if [ -z "$missing" ]; then
    echo "install-test-deps: all present (chromium: $(chromium_bin), $(python3 --version 2>&1), promtool)"
    mcp_sdk
    exit $?
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if have sudo && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
fi
if ! have apt-get || [ "$SUDO" = none ]; then
    echo "install-test-deps: missing:$missing; installing needs apt-get as root (apt-get install$missing)" >&2
    exit 1
fi

echo "install-test-deps: installing$missing with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
# Install shellcheck on its own first: one package apt-get cannot install makes it
# install none of a list, and CI's shellcheck test must not depend on chromium.
have shellcheck || $SUDO apt-get install -y -qq --no-install-recommends shellcheck >/dev/null 2>&1 || true
# shellcheck disable=SC2086 # word splitting of the package list is wanted
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1

status=0
if ! have shellcheck; then
    echo "install-test-deps: could not install shellcheck" >&2
    status=1
fi
if chromium_bin >/dev/null; then
    echo "install-test-deps: chromium present ($(chromium_bin))"
else
    echo "install-test-deps: could not install chromium" >&2
    status=1
fi
if python_ok; then
    echo "install-test-deps: $(python3 --version 2>&1) with venv present"
else
    echo "install-test-deps: could not install python3 with venv" >&2
    status=1
fi
if have promtool; then
    echo "install-test-deps: promtool present"
else
    echo "install-test-deps: could not install promtool (Debian package prometheus)" >&2
    status=1
fi
mcp_sdk || status=1
exit $status

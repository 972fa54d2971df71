#!/bin/sh
# Installs what the optional end-to-end checks need, when it is missing:
#   - chromium (Debian's package) for tests/dashboard.rs (headless page checks)
# Safe to run again: it installs only what is absent. Exits 0 when everything
# is present afterwards, 1 when something could not be installed (the tests
# that need it then skip with a message naming this script).
set -u

have() { command -v "$1" >/dev/null 2>&1; }

chromium_bin() {
    for b in chromium chromium-browser google-chrome; do
        if have "$b"; then echo "$b"; return 0; fi
    done
    return 1
}

if chromium_bin >/dev/null; then
    echo "install-test-deps: chromium present ($(chromium_bin))"
    exit 0
fi

if ! have apt-get; then
    echo "install-test-deps: chromium is missing and there is no apt-get here; install Chromium by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if have sudo && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "install-test-deps: chromium is missing and installing it needs root (apt-get install chromium)" >&2
        exit 1
    fi
fi

echo "install-test-deps: installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
if $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 \
    && chromium_bin >/dev/null; then
    echo "install-test-deps: chromium installed ($(chromium_bin))"
    exit 0
fi
echo "install-test-deps: could not install chromium (apt-get install chromium failed)" >&2
exit 1

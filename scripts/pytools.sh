# Sourced by scripts that need Python tools (check-openapi.sh, schemathesis.sh).
# pytools_install PACKAGE... : installs them into a private venv under
# target/ (never into the system Python) and puts it first on PATH.
# Returns 1, with a message on stderr, when that is impossible here.

# The MCP Python SDK tests/mcp.rs drives kit-ctl mcp with. 1.26.0 supports
# Python 3.10+ and protocol 2025-11-25; pinned so that a new SDK release
# cannot change what CI checks.
KIT_MCP_SDK="mcp==1.26.0"

pytools_install() {
    root=$(cd "$(dirname "$0")/.." && pwd)
    venv=${KIT_PYTOOLS:-$root/target/pytools}
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 is not installed" >&2
        return 1
    fi
    if [ ! -x "$venv/bin/pip" ]; then
        python3 -m venv "$venv" >/dev/null 2>&1 || {
            echo "cannot create a Python venv in $venv (Debian: apt-get install python3-venv)" >&2
            return 1
        }
    fi
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >"$venv.log" 2>&1; then
        echo "cannot pip install $* (no network to PyPI?); see $venv.log" >&2
        return 1
    fi
    PATH="$venv/bin:$PATH"
    export PATH
}

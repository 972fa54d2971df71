#!/bin/sh
# Runs tests/mcp/client.py (the official MCP Python SDK driving kit-ctl mcp)
# with the SDK pip-installed into the venv under target/ (scripts/pytools.sh).
# Usage: scripts/mcp-client.sh KIT_CTL URL TOKEN
# Exits 77 when the SDK cannot be installed here (tests/mcp.rs then skips,
# or fails when CI=true).
set -u
. "$(dirname "$0")/pytools.sh"
pytools_install "$KIT_MCP_SDK" || exit 77
exec python3 "$(dirname "$0")/../tests/mcp/client.py" "$@"

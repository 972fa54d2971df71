#!/bin/sh
# An optional check of `kit-ctl mcp` with the MCP Inspector's CLI mode (npm
# @modelcontextprotocol/inspector, fetched by npx): lists the tools and
# resources and calls two tools on the kit that KIT_HOME/KIT_DB name.
# Usage: scripts/mcp-inspector.sh [KIT_CTL]   (default: target/debug/kit-ctl)
# Exits 77 when npx is missing; the automated test is tests/mcp.rs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ctl=${1:-$root/target/debug/kit-ctl}
command -v npx >/dev/null 2>&1 || { echo "npx is not installed" >&2; exit 77; }
inspect() { npx -y @modelcontextprotocol/inspector@0.15.0 --cli "$ctl" mcp "$@"; }
inspect --method tools/list >/dev/null
inspect --method resources/list >/dev/null
inspect --method tools/call --tool-name status >/dev/null
# A tool error (not a protocol failure): the Inspector prints it, exit 0.
inspect --method tools/call --tool-name show_task --tool-arg name=no-such-task | grep -q '"isError": true'
echo "mcp-inspector: tools/list, resources/list, status and an error case passed"

#!/bin/sh
# Fuzzes a running `kit-ctl serve` with schemathesis against its own OpenAPI
# document: no request may get a 5xx, and every answer must match the
# document (status code, content type, headers, body schema); requests
# without the token must be refused, and wrong methods answered with 405.
#
# Usage: KIT_API_TOKEN=TOKEN scripts/schemathesis.sh http://127.0.0.1:PORT
#   SCHEMATHESIS_MAX_EXAMPLES (default 50) bounds the examples per operation.
# Exit: 0 clean, 1 problems found, 77 schemathesis cannot be installed here.
#
# Point it at a throwaway kit (its own KIT_HOME): it creates, changes and
# deletes tasks. `POST /v1/tasks/{name}/run` is left out, since it would run
# generated commands; tests/api.rs covers that route.
set -u
url=${1:?usage: KIT_API_TOKEN=TOKEN $0 http://127.0.0.1:PORT}
token=${KIT_API_TOKEN:?set KIT_API_TOKEN to the token of the server}
. "$(dirname "$0")/pytools.sh"
pytools_install 'schemathesis>=4,<5' || exit 77

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The document needs the token too; fetch it, and leave out the daemon
# actions' `wait` parameter so that a fuzzed wait=30 does not stall the run
# (no kit-keep answers here; tests/api.rs covers `wait`).
python3 - "$url" "$token" "$tmp/openapi.json" <<'PY' || exit 1
import json, sys, urllib.request
url, token, out = sys.argv[1:]
req = urllib.request.Request(url.rstrip("/") + "/v1/openapi.json", headers={"Authorization": "Bearer " + token})
doc = json.load(urllib.request.urlopen(req, timeout=10))
for item in doc["paths"].values():
    for op in item.values():
        if isinstance(op, dict) and "parameters" in op:
            op["parameters"] = [p for p in op["parameters"] if p.get("name") != "wait"]
json.dump(doc, open(out, "w"))
PY

# From the temp dir: schemathesis keeps a .schemathesis/ cache in its cwd.
cd "$tmp" || exit 1
schemathesis run "$tmp/openapi.json" \
    --url "$url" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --exclude-path '/v1/tasks/{name}/run' \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
    --workers 1 \
    --seed 1 \
    --request-timeout 15 \
    --suppress-health-check all \
    --warnings off \
    --no-color

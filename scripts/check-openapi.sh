#!/bin/sh
# Validates an OpenAPI document (a file, or the one in the source tree by
# default) with openapi-spec-validator, installed into target/pytools.
# Exit: 0 valid, 1 invalid, 77 the validator cannot be installed here.
# Usage: scripts/check-openapi.sh [FILE]
set -u
. "$(dirname "$0")/pytools.sh"
file=${1:-$(cd "$(dirname "$0")/.." && pwd)/kit-ctl/src/api/openapi.json}
pytools_install 'openapi-spec-validator>=0.7,<1' || exit 77
python3 - "$file" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
spec, _ = read_from_filename(sys.argv[1])
try:
    validate(spec)
except Exception as e:  # the validator's own error types vary by version
    print(f"{sys.argv[1]}: invalid OpenAPI document: {e}")
    sys.exit(1)
print(f"{sys.argv[1]}: valid OpenAPI {spec.get('openapi')} document, {len(spec['paths'])} paths")
PY

#!/bin/sh
# Validates Kubernetes manifests (YAML, several documents per file) against
# the schemas of a Kubernetes version with kubernetes-validate (PyPI),
# installed into target/pytools. Strict: unknown fields are errors.
# Exit: 0 valid, 1 invalid, 77 the validator cannot be installed here.
# Usage: scripts/kubernetes-validate.sh FILE...
# KUBE_VERSION picks the Kubernetes version (e.g. 1.33.0); by default the
# newest one the installed validator knows.
set -u
. "$(dirname "$0")/pytools.sh"
pytools_install 'kubernetes-validate>=1.31,<2' || exit 77
if [ -n "${KUBE_VERSION:-}" ]; then
    exec kubernetes-validate --strict --kubernetes-version "$KUBE_VERSION" "$@"
fi
exec kubernetes-validate --strict "$@"

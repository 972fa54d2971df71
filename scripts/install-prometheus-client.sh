#!/bin/sh
# Installs Python's prometheus_client (from PyPI) for tests/ctl_metrics.rs,
# which checks `kit-ctl metrics` with the reference exposition-format parser.
# Does nothing when it is already importable. Exit 0 when it is importable
# afterwards, 1 otherwise (the test then skips, naming this script).
set -u
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "install-prometheus-client: $PY not found" >&2
    exit 1
fi
if "$PY" -c 'import prometheus_client' 2>/dev/null; then
    exit 0
fi
# A system Python may be "externally managed" (PEP 668): try a user install,
# then allow it explicitly; the package is small and pure Python.
"$PY" -m pip install --quiet --disable-pip-version-check prometheus-client >/dev/null 2>&1 \
    || "$PY" -m pip install --quiet --disable-pip-version-check --user prometheus-client >/dev/null 2>&1 \
    || "$PY" -m pip install --quiet --disable-pip-version-check --user --break-system-packages prometheus-client >/dev/null 2>&1
if "$PY" -c 'import prometheus_client' 2>/dev/null; then
    echo "install-prometheus-client: installed prometheus_client"
    exit 0
fi
echo "install-prometheus-client: could not install prometheus_client with pip" >&2
exit 1

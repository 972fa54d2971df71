#!/usr/bin/env python3
"""Parses Prometheus text exposition from stdin with the reference parser
(prometheus_client.parser.text_string_to_metric_families) and prints the
families as JSON: {"families": [{"name", "type", "help", "samples": [{"name",
"labels", "value"}]}]}. Exits 3 when prometheus_client is not installed
(scripts/install-prometheus-client.sh installs it), 1 when the text does not
parse. Used by tests/ctl_metrics.rs to check `kit-ctl metrics`."""
import json
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client is not installed (run scripts/install-prometheus-client.sh)", file=sys.stderr)
    sys.exit(3)

text = sys.stdin.read()
try:
    families = []
    for f in text_string_to_metric_families(text):
        families.append({
            "name": f.name,
            "type": f.type,
            "help": f.documentation,
            "samples": [
                {"name": s.name, "labels": s.labels,
                 "value": None if math.isnan(s.value) else s.value}
                for s in f.samples
            ],
        })
except Exception as e:  # the parser raises ValueError and friends
    print(f"not valid exposition format: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"families": families, "ends_with_newline": text.endswith("\n")}))

#!/usr/bin/env bash
# Every benchmark at smoke size with the binaries Bazel built, then the report: the
# benchmarks run and their output has the shape DESIGN.md §8 fixes. No timing is judged.
set -euo pipefail
out="${TEST_TMPDIR:-$(mktemp -d)}"
bench/measure "$PWD" --smoke >"$out/samples"
python3 bench/report.py "$out/samples" "$out/latest.json" "$out/latest.md" >/dev/null
/usr/bin/python3 - "$out/latest.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
keys = {"suite", "row", "metric", "unit", "min", "median", "max", "runs"}
assert rows and all(set(row) == keys for row in rows), "rows do not have the fixed shape"
suites = {row["suite"] for row in rows}
assert {"control-plane", "aggregator", "request-path"} <= suites, suites
figures = {(row["row"], row["metric"]) for row in rows}
for row in ("middlepipe", "nginx-sidecar", "haproxy-sidecar", "python-middlepipe", "ruby-middlepipe"):
    for metric in ("added_latency_p50", "added_latency_p99"):
        assert (row, metric) in figures, (row, metric)
assert ("middlepipe", "interposer_cpu_per_1000") in figures
print(f"{len(rows)} figures from {len(suites)} suites")
PY

#!/usr/bin/env python3
"""Added latency of the Python hook: the same GET through a plain requests.Session and
through middlepipe.Session (a circuit breaker and a monitor bound, a real mp-agent), in
one run, rows alternating within each round. Prints one JSON figure per line (bench/report.py).

Usage: hook_latency.py [--requests N] [--rounds N]   (binaries from $MP_BIN_DIR or bazel-bin)
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "tests"))

import requests  # noqa: E402

import middlepipe  # noqa: E402
from stack import Stack  # noqa: E402


def emit(row, metric, unit, value):
    print(json.dumps({"suite": "request-path", "row": row, "metric": metric, "unit": unit, "value": value}))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stack = Stack()
    try:
        for kind, name in (("circuit-breaker", "orders-breaker"), ("monitor", "orders-monitor")):
            stack.mp("create-middlepipe", kind, name)
            stack.mp("bind-middlepipe", name, "web", "orders")
        url = stack.service_url()
        rows = {
            "python-direct": requests.Session(),
            "python-middlepipe": middlepipe.Session(services={f"127.0.0.1:{stack.service_port}": "orders"},
                                                    socket_path=stack.socket),
        }
        for session in rows.values():  # connections, caches, the aggregator's first decision
            for _ in range(max(args.requests // 10, 50)):
                session.get(url)
        time.sleep(1)
        for _ in range(args.rounds):
            p50 = {}
            p99 = {}
            for row, session in rows.items():
                latencies = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    if session.get(url).status_code != 200:
                        sys.exit(f"hook_latency: {row} call failed")
                    latencies.append((time.perf_counter() - started) * 1e6)
                p50[row], p99[row] = percentile(latencies, 50), percentile(latencies, 99)
                emit(row, "latency_p50", "us", p50[row])
                emit(row, "latency_p99", "us", p99[row])
            emit("python-middlepipe", "added_latency_p50", "us", p50["python-middlepipe"] - p50["python-direct"])
            emit("python-middlepipe", "added_latency_p99", "us", p99["python-middlepipe"] - p99["python-direct"])
    finally:
        stack.close()


if __name__ == "__main__":
    main()

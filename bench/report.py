#!/usr/bin/env python3
"""Folds benchmark samples (one JSON object per line: suite, row, metric, unit, value) into
rows with min/median/max over runs; prints a table and writes JSON and Markdown.

Usage: report.py SAMPLES OUT.json OUT.md
"""
import collections
import json
import os
import platform
import statistics
import sys


def machine():
    """The machine the figures come from: cores, CPU model, kernel."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores{', ' + model if model else ''}, Linux {platform.release()}"


def fold(lines):
    groups = collections.OrderedDict()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        sample = json.loads(line)
        key = (sample["suite"], sample["row"], sample["metric"], sample["unit"])
        groups.setdefault(key, []).append(float(sample["value"]))
    return [
        {"suite": suite, "row": row, "metric": metric, "unit": unit,
         "min": min(values), "median": statistics.median(values), "max": max(values),
         "runs": len(values)}
        for (suite, row, metric, unit), values in groups.items()
    ]


def table(rows):
    header = ["suite", "row", "metric", "unit", "min", "median", "max", "runs"]
    cells = [header] + [[r["suite"], r["row"], r["metric"], r["unit"], f"{r['min']:.2f}",
                         f"{r['median']:.2f}", f"{r['max']:.2f}", str(r["runs"])] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return cells, widths


def main():
    samples, json_path, markdown_path = sys.argv[1:4]
    with open(samples) as f:
        rows = fold(f)
    with open(json_path, "w") as f:
        json.dump(rows, f, indent=2)
        f.write("\n")
    cells, widths = table(rows)
    print(f"machine: {machine()}\n")
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    with open(markdown_path, "w") as f:
        f.write(f"Machine: {machine()}\n\n")
        f.write("| " + " | ".join(cells[0]) + " |\n")
        f.write("|" + "|".join("---" for _ in cells[0]) + "|\n")
        for row in cells[1:]:
            f.write("| " + " | ".join(row) + " |\n")
    print(f"\nwrote {json_path} and {markdown_path}")


if __name__ == "__main__":
    main()

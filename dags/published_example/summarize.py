"""Summarise the wine data: rows, mean alcohol per class and the `--top` strongest wines.

Writes `summary.json` to `--output` and logs the figures as metrics; reads the CSV with the
standard library only, so the step starts fast.
"""

import argparse
import csv
import json
import os
from collections import defaultdict

from airflow_provider_mlpipe import Run

run = Run.get_context()

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="CSV with an 'alcohol' and a 'target' column")
parser.add_argument("--top", type=int, required=True, help="how many of the strongest wines to list")
parser.add_argument("--output", required=True, help="folder for summary.json")
args = parser.parse_args()

with open(args.data, newline="") as handle:
    rows = list(csv.DictReader(handle))
by_class = defaultdict(list)
for row in rows:
    by_class[row["target"]].append(float(row["alcohol"]))
strongest = sorted(rows, key=lambda row: float(row["alcohol"]), reverse=True)[: args.top]
summary = {
    "rows": len(rows),
    "mean_alcohol_by_class": {name: round(sum(v) / len(v), 3) for name, v in sorted(by_class.items())},
    "strongest": [{"alcohol": float(r["alcohol"]), "class": r["target"]} for r in strongest],
}
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "summary.json"), "w") as handle:
    json.dump(summary, handle, indent=1)
print(f"{len(rows)} wines; the {len(strongest)} strongest listed in summary.json")
run.log("rows", len(rows))
run.log("top", args.top)
for name, mean in summary["mean_alcohol_by_class"].items():
    run.log_row("mean_alcohol", wine_class=name, alcohol=mean)

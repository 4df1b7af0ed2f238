"""Count the rows of the CSV files the transfer step copied."""

import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--copied", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()
files = (
    [os.path.join(args.copied, f) for f in sorted(os.listdir(args.copied))]
    if os.path.isdir(args.copied)
    else [args.copied]
)
rows = {}
for name in files:
    if name.endswith(".csv"):
        with open(name, newline="") as handle:
            rows[os.path.basename(name)] = sum(1 for _ in csv.reader(handle)) - 1
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "rows.json"), "w") as handle:
    json.dump(rows, handle)
print(json.dumps(rows))

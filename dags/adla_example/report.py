"""Report: how many rows the U-SQL step's summary holds."""

import argparse
import json
import os

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--summary", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()
summary = pd.read_csv(os.path.join(args.summary, "summary.csv"))
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "report.json"), "w") as handle:
    json.dump({"rows": len(summary), "columns": list(summary.columns)}, handle)

"""Report: summary statistics of the features the Databricks step wrote."""

import argparse
import json
import os

import pandas as pd

parser = argparse.ArgumentParser()
parser.add_argument("--features", required=True)
parser.add_argument("--output", required=True)
args = parser.parse_args()
features = pd.read_csv(os.path.join(args.features, "features.csv"))
os.makedirs(args.output, exist_ok=True)
report = {
    "rows": len(features),
    "columns": features.shape[1] - 1,
    "max_abs_value": round(float(features.drop(columns=["target"]).abs().max().max()), 4),
}
with open(os.path.join(args.output, "report.json"), "w") as handle:
    json.dump(report, handle, indent=2)
print(json.dumps(report))

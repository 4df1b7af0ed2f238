"""Compare the models: bootstrap the accuracy difference, keep the best model, write a report.

--param1 (the pipeline parameter `pipeline_arg`) is the number of bootstrap rounds: the estimated
difference and its standard error change with it (seeded, so a rerun gives the same numbers).
"""

import argparse
import json
import os
import shutil

import numpy as np
import pandas as pd

from airflow_provider_mlpipe import Run

run = Run.get_context()

parser = argparse.ArgumentParser()
parser.add_argument("--comp_data1", required=True, help="folder of trained models")
parser.add_argument("--comp_data2", required=True, help="folder of predictions and metrics")
parser.add_argument("--output_data", required=True, help="folder for the best model and the report")
parser.add_argument("--param1", type=int, required=True, help="bootstrap rounds")
args = parser.parse_args()
print(f"pipeline_arg (param1) = {args.param1}")
if args.param1 < 1:
    parser.error("--param1 must be at least 1")

with open(os.path.join(args.comp_data2, "metrics.json")) as handle:
    metrics = json.load(handle)
ranking = sorted(
    metrics, key=lambda name: (metrics[name]["accuracy"], metrics[name]["f1_macro"]), reverse=True
)
best, runner_up = ranking[0], ranking[1]

correct = {}
for name in (best, runner_up):
    predictions = pd.read_csv(os.path.join(args.comp_data2, f"{name}_predictions.csv"))
    correct[name] = (predictions["target"] == predictions["predicted"]).to_numpy()
rng = np.random.default_rng(0)
size = len(correct[best])
differences = []
for _ in range(args.param1):
    sample = rng.integers(0, size, size)
    differences.append(float(correct[best][sample].mean() - correct[runner_up][sample].mean()))

# The Monte Carlo error of the mean difference: more rounds, a smaller error (none for one round).
stderr = None
if args.param1 > 1:
    stderr = round(float(np.std(differences, ddof=1) / np.sqrt(args.param1)), 4)

os.makedirs(args.output_data, exist_ok=True)
shutil.copy(os.path.join(args.comp_data1, f"{best}.pkl"), os.path.join(args.output_data, "best_model.pkl"))
report = {
    "best_model": best,
    "metrics": metrics,
    "bootstrap_rounds": args.param1,
    "accuracy_difference_mean": round(float(np.mean(differences)), 4),
    "accuracy_difference_stderr": stderr,
    "best_wins_share": round(float(np.mean([d >= 0 for d in differences])), 4),
}
for rank, name in enumerate(ranking, 1):
    run.log_row("leaderboard", rank=rank, model=name, **metrics[name])
run.log("best_model", best)
run.log("bootstrap_rounds", args.param1)
run.log("accuracy_difference_mean", report["accuracy_difference_mean"])
if stderr is not None:
    run.log("accuracy_difference_stderr", stderr)
run.log("best_wins_share", report["best_wins_share"])
with open(os.path.join(args.output_data, "report.json"), "w") as handle:
    json.dump(report, handle, indent=2)
print(json.dumps(report, indent=2))

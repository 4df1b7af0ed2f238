"""Score every trained model on the held-out split: predictions and per-model metrics."""

import argparse
import json
import os
import pickle

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from airflow_provider_mlpipe import Run

run = Run.get_context()

parser = argparse.ArgumentParser()
parser.add_argument("--input_data", required=True, help="folder written by train.py")
parser.add_argument("--output_data", required=True, help="folder for predictions and metrics")
args = parser.parse_args()

test = pd.read_csv(os.path.join(args.input_data, "test.csv"))
x_test, y_test = test.drop(columns=["target"]), test["target"]
with open(os.path.join(args.input_data, "models.json")) as handle:
    names = json.load(handle)

os.makedirs(args.output_data, exist_ok=True)
metrics = {}
for name in names:
    with open(os.path.join(args.input_data, f"{name}.pkl"), "rb") as handle:
        model = pickle.load(handle)
    predicted = model.predict(x_test)
    pd.DataFrame({"target": y_test, "predicted": predicted}).to_csv(
        os.path.join(args.output_data, f"{name}_predictions.csv"), index=False
    )
    metrics[name] = {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 4),
    }
    run.log(f"{name}_accuracy", metrics[name]["accuracy"], description=f"{name} on the held-out split")
    run.log(f"{name}_f1_macro", metrics[name]["f1_macro"])
    print(f"{name}: accuracy={metrics[name]['accuracy']} f1_macro={metrics[name]['f1_macro']}")
with open(os.path.join(args.output_data, "metrics.json"), "w") as handle:
    json.dump(metrics, handle, indent=2)

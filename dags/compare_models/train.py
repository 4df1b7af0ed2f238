"""Train two classifiers on the input CSV and save them with the held-out test split.

They learn from four of the wine data's 13 measurements: with all 13, both models classify the
held-out split perfectly, and comparing them (and runs of the compare step) would show nothing.
"""

import argparse
import json
import os
import pickle

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from airflow_provider_mlpipe import Run

run = Run.get_context()  # v1: from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True, help="CSV with feature columns and a 'target' column")
parser.add_argument("--output", required=True, help="folder for the trained models")
args = parser.parse_args()
FEATURES = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash"]

data = pd.read_csv(args.input)
features, target = data[FEATURES], data["target"]
x_train, x_test, y_train, y_test = train_test_split(
    features, target, test_size=0.3, random_state=0, stratify=target
)
models = {
    "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "random_forest": RandomForestClassifier(n_estimators=100, random_state=0),
}
os.makedirs(args.output, exist_ok=True)
for name, model in models.items():
    model.fit(x_train, y_train)
    with open(os.path.join(args.output, f"{name}.pkl"), "wb") as handle:
        pickle.dump(model, handle)
    run.log(f"{name}_train_accuracy", round(float(model.score(x_train, y_train)), 4))
    print(f"trained {name} on {len(x_train)} rows")
run.log("train_rows", len(x_train))
run.log("test_rows", len(x_test))
x_test.assign(target=y_test).to_csv(os.path.join(args.output, "test.csv"), index=False)
with open(os.path.join(args.output, "models.json"), "w") as handle:
    json.dump(sorted(models), handle)

"""Featurize on Databricks: standardise every feature column, scaled by --scale.

Runs as a `spark_python_task`: inputs and outputs arrive as datastore URIs
(`--prepared <uri> --features <uri>`), wasbs:// on Blob, file:// on a local folder.
Plain pandas here so the same file also runs on a laptop; use PySpark for big data.
"""

import argparse
import os
from urllib.parse import urlparse

import pandas as pd


def local_path(uri: str) -> str:
    """A file:// URI as a path; other URIs (wasbs://, dbfs:/) are used as they are."""
    return urlparse(uri).path if uri.startswith("file:") else uri


parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=float, default=1.0)
parser.add_argument("--prepared", required=True)
parser.add_argument("--features", required=True)
args = parser.parse_args()

data = pd.read_csv(os.path.join(local_path(args.prepared), "wine.csv"))
features = data.drop(columns=["target"])
scaled = (features - features.mean()) / features.std() * args.scale
output = local_path(args.features)
os.makedirs(output, exist_ok=True)
scaled.assign(target=data["target"]).to_csv(os.path.join(output, "features.csv"), index=False)
print(f"featurized {len(scaled)} rows x {scaled.shape[1]} columns with scale {args.scale}")

"""Prepare: write the wine data set as CSV (header row) into the step's output folder."""

import argparse
import os

from sklearn.datasets import load_wine

parser = argparse.ArgumentParser()
parser.add_argument("--output", required=True)
args = parser.parse_args()
os.makedirs(args.output, exist_ok=True)
load_wine(as_frame=True).frame.to_csv(os.path.join(args.output, "wine.csv"), index=False)

"""Turn the counts into a survival rate."""

import argparse
import json
import os

options = argparse.ArgumentParser()
options.add_argument("--input_extract")
options.add_argument("--output_extract")
given = options.parse_args()

with open(os.path.join(given.input_extract, "counts.json")) as source:
    counts = json.load(source)
rate = counts["survived"] / counts["rows"]
os.makedirs(given.output_extract, exist_ok=True)
with open(os.path.join(given.output_extract, "rate.txt"), "w") as out:
    out.write(f"{rate:.2f}")
print(f"extract found a rate of {rate:.2f}")

"""Count the passengers of the input CSV and how many survived; write the counts as JSON."""

import argparse
import csv
import json
import os

options = argparse.ArgumentParser()
options.add_argument("--input_data")
options.add_argument("--output_train")
given = options.parse_args()

with open(given.input_data, newline="") as table:
    rows = list(csv.DictReader(table))
counts = {"rows": len(rows), "survived": sum(row["Survived"] == "1" for row in rows)}
os.makedirs(given.output_train, exist_ok=True)
with open(os.path.join(given.output_train, "counts.json"), "w") as out:
    json.dump(counts, out)
print(f"train counted {counts}")

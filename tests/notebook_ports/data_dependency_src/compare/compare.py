"""Put the raw table (a DataPath parameter) next to the extracted rate."""

import argparse
import os

options = argparse.ArgumentParser()
options.add_argument("--compare_data1")
options.add_argument("--compare_data2")
options.add_argument("--output_compare")
given = options.parse_args()

with open(given.compare_data1) as table:
    passengers = len(table.read().strip().splitlines()) - 1
with open(os.path.join(given.compare_data2, "rate.txt")) as source:
    rate = source.read()
os.makedirs(given.output_compare, exist_ok=True)
with open(os.path.join(given.output_compare, "verdict.txt"), "w") as out:
    out.write(f"{passengers} passengers, survival rate {rate}\n")
print(f"compare: {passengers} passengers, survival rate {rate}")

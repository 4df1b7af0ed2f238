"""Write the first word of every kept headline."""

import argparse
import os

options = argparse.ArgumentParser()
options.add_argument("--input_extract")
options.add_argument("--output_extract")
given = options.parse_args()

with open(os.path.join(given.input_extract, "kept.txt")) as source:
    firsts = [line.split()[0] for line in source.read().splitlines()]
os.makedirs(given.output_extract, exist_ok=True)
with open(os.path.join(given.output_extract, "firsts.txt"), "w") as out:
    out.write(" ".join(firsts))
print(f"extract wrote {len(firsts)} first words")

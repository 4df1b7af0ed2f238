"""Read the pickled headlines and keep those longer than three words."""

import argparse
import os
import pickle

options = argparse.ArgumentParser()
options.add_argument("--input_data")
options.add_argument("--output_train")
given = options.parse_args()

with open(given.input_data, "rb") as source:
    headlines = pickle.load(source)
kept = [line for line in headlines if len(line.split()) > 3]
os.makedirs(given.output_train, exist_ok=True)
with open(os.path.join(given.output_train, "kept.txt"), "w") as out:
    out.write("\n".join(kept))
print(f"train kept {len(kept)} of {len(headlines)} headlines")

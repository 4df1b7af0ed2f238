"""Print the string parameter and what is at the DataPath parameter's location."""

import argparse
import os

options = argparse.ArgumentParser()
options.add_argument("--arg1")
options.add_argument("--arg2")
given = options.parse_args()

print(f"string parameter: {given.arg1}")
if os.path.isdir(given.arg2):
    listed = sorted(os.listdir(given.arg2))
    print(f"datapath parameter: {os.path.basename(given.arg2)} holds {listed}")
else:
    print(f"datapath parameter: {given.arg2} is not a folder")

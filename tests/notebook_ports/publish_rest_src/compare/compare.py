"""Report both earlier outputs and the pipeline parameter the run was given."""

import argparse
import os

options = argparse.ArgumentParser()
options.add_argument("--compare_data1")
options.add_argument("--compare_data2")
options.add_argument("--output_compare")
options.add_argument("--pipeline_param", type=int)
given = options.parse_args()

with open(os.path.join(given.compare_data1, "kept.txt")) as source:
    kept = len(source.read().splitlines())
with open(os.path.join(given.compare_data2, "firsts.txt")) as source:
    firsts = source.read()
os.makedirs(given.output_compare, exist_ok=True)
with open(os.path.join(given.output_compare, "report.txt"), "w") as out:
    out.write(f"{kept} kept; first words {firsts}; pipeline_arg {given.pipeline_param}\n")
print(f"compare: {kept} kept, first words '{firsts}', pipeline_arg {given.pipeline_param}")

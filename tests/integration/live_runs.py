"""Helpers for tests of live runs (streamed step output, cancellation), local and remote alike.

The streaming tests prove by events, not by durations, that a line is printed while its step
still runs: the step's script prints a first line and then waits for a gate file that only the
printing side opens, when the first line has reached stdout; only then can the script go on and
end. A client that printed a step's lines after the step ended never opens the gate, and the
script says so in its second line.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

#: A step that prints, waits for the gate (at most 90 s, so a broken client cannot hang a run), prints.
GATED_SCRIPT = """
import os, sys, time
gate = sys.argv[1]
print("first line of the gated step", flush=True)
deadline = time.monotonic() + 90
while not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.1)
print("second line of the gated step" if os.path.exists(gate) else "the gate never opened", flush=True)
"""

#: A step that records its pid and a child's pid, then writes a tick every 0.2 s (at most `ticks`).
LOOP_SCRIPT = """
import os, subprocess, sys, time
marker, ticks = sys.argv[1], int(sys.argv[2])
child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"])
with open(marker, "a") as handle:
    handle.write(f"{os.getpid()} {child.pid}\\n")
for _ in range(ticks):
    with open(marker, "a") as handle:
        handle.write("tick\\n")
    time.sleep(0.2)
child.kill()
"""

#: A step that must not start after a cancel: it writes its marker file.
AFTER_SCRIPT = """
import sys
open(sys.argv[1], "w").write("started")
"""

#: Airflow's own lines that must never be shown as a step's output.
BOOKKEEPING = (
    "::group::",
    "::endgroup::",
    "Pushing xcom",
    "Task instance state updated",
    "Task started",
    "DAG bundles loaded",
    "Filling up the DagBag",
    "Worker startup parse complete",
    "[DAG TEST]",
    "Log message source details",
)


class GatedOutput(io.StringIO):
    """stdout for `wait_for_completion`: opens `gate` when the gated step's first line is printed."""

    def __init__(self, gate: Path) -> None:
        super().__init__()
        self.gate = gate
        self.printed_before_gate = ""

    def write(self, text: str) -> int:
        written = super().write(text)
        if "first line of the gated step" in text and not self.gate.exists():
            self.printed_before_gate = self.getvalue()
            self.gate.touch()
        return written


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def loop_pids(marker: Path) -> list[int]:
    """The pids the loop step recorded (the script's and its child's), once it has ticked."""
    lines = marker.read_text().splitlines() if marker.exists() else []
    return [int(pid) for pid in lines[0].split()] if len(lines) > 1 else []


def running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# A pipeline's first step: writes --n numbers into --out/numbers.txt.
PREPARE = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int)
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "numbers.txt"), "w") as handle:
    handle.write(",".join(str(i) for i in range(args.n)))
print(f"prepare wrote {args.n} numbers")
"""

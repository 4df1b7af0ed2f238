"""What the script guardian adds to every PythonScriptStep: start-to-end time of a trivial script.

`direct` runs `python -c pass` through `ScriptProcess` with the script as its direct child, as
before the guardian (own session, stdout/stderr read into the log); `guarded` through
`ScriptProcess` as it is, under `runtime/guard.py`. The two alternate; prints median/min/max
of each side, the median difference in milliseconds (what every step pays) and the ratio.

    .venv/bin/python bench/guard.py [--runs 40] [--json PATH]

The exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_provider_mlpipe.runtime.process import ScriptProcess  # noqa: E402

SCRIPT = [sys.executable, "-c", "pass"]


class Unguarded(ScriptProcess):
    """ScriptProcess as it was before the guardian: the script is the direct child."""

    def guarded_argv(self, alive_fd: int) -> list[str]:
        return self.argv


def direct(folder: Path) -> None:
    Unguarded(SCRIPT, folder, dict(os.environ), logging.getLogger("bench"), folder).run()


def guarded(folder: Path) -> None:
    ScriptProcess(SCRIPT, folder, dict(os.environ), logging.getLogger("bench"), folder).run()


def sample(run: Callable[[Path], None], folder: Path) -> float:
    started = time.perf_counter()
    run(folder)
    return (time.perf_counter() - started) * 1000


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"direct": [], "guarded": []}
    with tempfile.TemporaryDirectory(prefix="mlpipe-bench-guard-") as name:
        folder = Path(name)
        for run in (direct, guarded):  # warm-up: page cache, imports
            sample(run, folder)
        for index in range(args.runs):
            order = (direct, guarded) if index % 2 == 0 else (guarded, direct)
            for run in order:
                times[run.__name__].append(sample(run, folder))
    result = {side: summary(values) for side, values in times.items()}
    added = result["guarded"]["median"] - result["direct"]["median"]
    result["added_ms"] = added
    result["ratio"] = result["guarded"]["median"] / result["direct"]["median"]
    for side in ("direct", "guarded"):
        figures = result[side]
        low, high = figures["min"], figures["max"]
        print(f"{side:8} median {figures['median']:7.1f} ms  min {low:7.1f}  max {high:7.1f}")
    print(f"added by the guardian: {added:+.1f} ms per step (guarded/direct = {result['ratio']:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

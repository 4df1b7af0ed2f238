"""Overhead benchmark: mlpipe's operators against hand-written BashOperators, and 1 vs 2 Celery workers.

Run by hand: `.venv/bin/python bench/overhead.py [--runs N] [--only local celery] [--json PATH]`

Two sections, each on a real deployment (tests/services/airflow_deployment.py: api-server,
scheduler, dag-processor, triggerer as processes on the machine's PostgreSQL), each printed as a
table, then a summary:

1. `local` (LocalExecutor): the example pipeline (`dags/mlpipe_compare_models.py` and its scripts,
   every run with `regenerate_outputs`, so nothing is reused) against a hand-written DAG of three
   BashOperators that run the same scripts, with the same interpreter and arguments, on the same
   data (the wine CSV on the embedded datastore), each writing its outputs straight to a per-run
   folder the next one reads. One warm-up run each, then N runs each, alternating A B B A ...
   Wall time = the run's `end_date - queued_at` as the API reports it; the ratio of medians
   mlpipe/plain has the aim <= 1.15. The summed task durations are shown too (where it goes).
2. `celery` (CeleryExecutor, Redis on 127.0.0.1:6379): the 20-step fan-out/fan-in pipeline of
   tests/integration/test_celery_e2e.py (split -> 18 steps -> merge, data on Azurite), every run
   with `regenerate_outputs`, with one worker (the second one stopped) and with two, alternating
   after a warm-up run: median wall time each and the speed-up 1 worker / 2 workers (no aim: on
   2 cores the steps compete for CPU whatever the worker count).

The exit code is 0 whatever the figures (1 only when a section could not run): this measures, it
does not judge. Needs PostgreSQL; the celery section also needs Redis and Azurite (`make install`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `tests.services` and the package, when run as a script
    sys.path.insert(0, str(REPO))

EXAMPLE_DAG = REPO / "dags" / "mlpipe_compare_models.py"
EXAMPLE_SOURCE = REPO / "dags" / "compare_models"
MLPIPE_ID = "mlpipe_compare_models"
PLAIN_ID = "plain_compare_models"
AIM_LOCAL_RATIO = 1.15
SECTIONS = ("local", "celery")
RUN_TIMEOUT = 600.0

PLAIN_DAG = '''
"""The example pipeline hand-written with BashOperators: same scripts, arguments and data flow."""

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

PYTHON = {python!r}
SOURCE = {source!r}
DATA = {data!r}
RUN = DATA + "/plain/{{{{ run_id | replace(':', '_') | replace('+', '_') }}}}"


def step(task_id, outputs, arguments):
    folders = " ".join(f'"{{RUN}}/{{task_id}}/{{name}}"' for name in outputs)
    return BashOperator(
        task_id=task_id,
        bash_command=f'mkdir -p {{folders}} && exec "{{PYTHON}}" {{arguments}}',
        cwd=SOURCE,
    )


with DAG({dag_id!r}, schedule=None, params={{"pipeline_arg": Param(10, type="integer")}}, tags=["bench"]):
    train = step(
        "train",
        ["output_data1"],
        f'train.py --input "{{DATA}}/compare_models/wine.csv" --output "{{RUN}}/train/output_data1"',
    )
    extract = step(
        "extract",
        ["output_data2"],
        f'extract.py --input_data "{{RUN}}/train/output_data1" --output_data "{{RUN}}/extract/output_data2"',
    )
    compare = step(
        "compare",
        ["out_data3"],
        f'compare.py --comp_data1 "{{RUN}}/train/output_data1" --comp_data2 "{{RUN}}/extract/output_data2" '
        f'--output_data "{{RUN}}/compare/out_data3" --param1 {{{{{{{{ params.pipeline_arg }}}}}}}}',
    )
    train >> extract >> compare
'''


# ---------------------------------------------------------------------- helpers


def row(title: str, *cells: str, width: int = 34, cell: int = 16) -> str:
    return f"  {title:<{width}}" + "".join(f"{c:>{cell}}" for c in cells)


def verdict(value: float, aim: float) -> str:
    return "PASS" if value <= aim else "ABOVE"


def seconds_between(start: str | None, end: str | None) -> float:
    if not start or not end:
        return float("nan")
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def timed_run(deployment: Any, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Trigger one run, wait for it, and read its timings and task instances from the API."""
    run_id = deployment.trigger(dag_id, conf)["dag_run_id"]
    run = deployment.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
    instances = deployment._get_json(path, limit=100)["task_instances"]
    if run["state"] != "success":
        failed = [ti["task_id"] for ti in instances if ti["state"] != "success"]
        log = deployment.task_log(dag_id, run_id, failed[0])[-3000:] if failed else ""
        raise RuntimeError(f"{dag_id} run {run_id} ended {run['state']} (failed: {failed})\n{log}")
    return {
        "run_id": run_id,
        "wall_s": seconds_between(run.get("queued_at"), run.get("end_date")),
        "start_to_end_s": seconds_between(run.get("start_date"), run.get("end_date")),
        "task_s": sum(ti.get("duration") or 0.0 for ti in instances),
        "hosts": sorted({ti.get("hostname") or "" for ti in instances}),
    }


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [s["wall_s"] for s in samples]
    return {
        "median_wall_s": statistics.median(walls),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "median_task_s": statistics.median(s["task_s"] for s in samples),
        "samples": samples,
    }


def alternate(runs: int, first: str, second: str) -> list[str]:
    """A B B A A B ...: each side goes first as often as the other, so drift cancels out."""
    order: list[str] = []
    for index in range(runs):
        order += [first, second] if index % 2 == 0 else [second, first]
    return order


# ---------------------------------------------------------------------- 1. LocalExecutor


def bench_local(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.services.airflow_deployment import AirflowDeployment

    dags = folder / "dags"
    dags.mkdir(parents=True)
    shutil.copy2(EXAMPLE_DAG, dags / EXAMPLE_DAG.name)
    shutil.copytree(EXAMPLE_SOURCE, dags / EXAMPLE_SOURCE.name, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / ".airflowignore").write_text(f"{EXAMPLE_SOURCE.name}/\n")
    print("\n1. LocalExecutor: the example pipeline vs the same scripts as BashOperators")
    with AirflowDeployment(home=folder / "home", dags_folder=dags, executor="LocalExecutor") as deployment:
        print(f"  deployment up in {deployment.startup_seconds:.1f} s ({deployment.home})")
        data = deployment.home / "datastore"
        plain = PLAIN_DAG.format(
            python=sys.executable, source=str(dags / EXAMPLE_SOURCE.name), data=str(data), dag_id=PLAIN_ID
        )
        deployment.write_dag(PLAIN_ID, plain)
        prepare = subprocess.run(
            [sys.executable, str(dags / EXAMPLE_SOURCE.name / "prepare_data.py")],
            env=deployment.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if prepare.returncode != 0:
            raise RuntimeError(f"prepare_data.py failed:\n{prepare.stdout}\n{prepare.stderr}")
        for dag_id in (MLPIPE_ID, PLAIN_ID):
            deployment.wait_for_dag(dag_id, timeout=180)
        conf = {MLPIPE_ID: {"regenerate_outputs": True}, PLAIN_ID: {}}
        for dag_id in (MLPIPE_ID, PLAIN_ID):  # warm-up: DAG parsing caches, .pyc, first imports
            timed_run(deployment, dag_id, conf[dag_id])
        samples: dict[str, list[dict[str, Any]]] = {MLPIPE_ID: [], PLAIN_ID: []}
        for dag_id in alternate(args.runs, MLPIPE_ID, PLAIN_ID):
            sample = timed_run(deployment, dag_id, conf[dag_id])
            samples[dag_id].append(sample)
            print(f"    {dag_id:<24} {sample['wall_s']:7.2f} s  (tasks {sample['task_s']:6.2f} s)")
    result = {name: summarise(values) for name, values in samples.items()}
    result["ratio"] = result[MLPIPE_ID]["median_wall_s"] / result[PLAIN_ID]["median_wall_s"]
    result["task_ratio"] = result[MLPIPE_ID]["median_task_s"] / result[PLAIN_ID]["median_task_s"]
    print(row("", "mlpipe", "BashOperator", "ratio"))
    for key, label in (
        ("median_wall_s", "median wall (queued -> end)"),
        ("median_task_s", "median sum of tasks"),
    ):
        mine, theirs = result[MLPIPE_ID][key], result[PLAIN_ID][key]
        print(row(label, f"{mine:.2f} s", f"{theirs:.2f} s", f"{mine / theirs:.3f}"))
    spread = {
        name: f"{result[name]['min_wall_s']:.1f}-{result[name]['max_wall_s']:.1f} s" for name in samples
    }
    print(row("wall min-max", spread[MLPIPE_ID], spread[PLAIN_ID]))
    return result


# ---------------------------------------------------------------------- 2. CeleryExecutor, 1 vs 2 workers


def bench_celery(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.integration.test_celery_e2e import (
        BLOB_CONN,
        CONTAINER,
        FANOUT,
        FANOUT_DAG,
        MERGE,
        ROWS_PER_SHARD,
        SHARDS,
        SPLIT,
        SQUARE,
        put_connection,
    )
    from tests.services.airflow_deployment import CELERY_COMPONENTS, AirflowDeployment, redis_available
    from tests.services.azurite import blob_connection, start_azurite

    if not redis_available():
        raise RuntimeError("Redis is not reachable on 127.0.0.1:6379")
    print(f"\n2. CeleryExecutor: the {SHARDS + 2}-step fan-out/fan-in pipeline, 1 vs 2 workers")
    with start_azurite(folder / "azurite") as azurite:
        container = azurite.service_client().get_container_client(CONTAINER)
        container.create_container()
        numbers = [random.randint(-1000, 1000) for _ in range(SHARDS * ROWS_PER_SHARD)]
        container.upload_blob("inputs/numbers.csv", "\n".join(map(str, numbers)).encode())
        with AirflowDeployment(
            home=folder / "home",
            dags_folder=folder / "dags",
            executor="CeleryExecutor",
            components=CELERY_COMPONENTS,
        ) as deployment:
            print(f"  deployment up in {deployment.startup_seconds:.1f} s ({deployment.home})")
            put_connection(deployment, BLOB_CONN, blob_connection(azurite, CONTAINER))
            code = FANOUT_DAG.format(name=FANOUT, conn=BLOB_CONN, shards=SHARDS, markers=folder / "markers")
            deployment.write_dag(FANOUT, code, {"split.py": SPLIT, "square.py": SQUARE, "merge.py": MERGE})
            deployment.wait_for_dag(FANOUT, timeout=180)
            conf = {"regenerate_outputs": True}
            timed_run(deployment, FANOUT, conf)  # warm-up
            spare = deployment.workers[-1]
            samples: dict[str, list[dict[str, Any]]] = {"1 worker": [], "2 workers": []}
            for setting in alternate(args.runs, "1 worker", "2 workers"):
                running = spare in deployment.processes
                if setting == "1 worker" and running:
                    deployment.stop_component(spare)
                elif setting == "2 workers" and not running:
                    deployment.start_component(spare)
                sample = timed_run(deployment, FANOUT, conf)
                samples[setting].append(sample)
                hosts = ", ".join(sample["hosts"])
                print(
                    f"    {setting:<10} {sample['wall_s']:7.2f} s  (tasks {sample['task_s']:6.2f} s; {hosts})"
                )
    result = {name: summarise(values) for name, values in samples.items()}
    result["speedup"] = result["1 worker"]["median_wall_s"] / result["2 workers"]["median_wall_s"]
    print(row("", "1 worker", "2 workers", "1w / 2w"))
    one, two = result["1 worker"]["median_wall_s"], result["2 workers"]["median_wall_s"]
    print(row("median wall (queued -> end)", f"{one:.2f} s", f"{two:.2f} s", f"{result['speedup']:.3f}"))
    one, two = result["1 worker"]["median_task_s"], result["2 workers"]["median_task_s"]
    print(row("median sum of tasks", f"{one:.2f} s", f"{two:.2f} s", f"{one / two:.3f}"))
    return result


# ---------------------------------------------------------------------- main


def summary(results: dict[str, Any]) -> list[dict[str, str]]:
    aims = []
    local = results.get("local", {})
    if "ratio" in local:
        aims.append(
            {
                "aim": f"local: mlpipe / BashOperator wall <= {AIM_LOCAL_RATIO}",
                "figure": f"{local['ratio']:.3f}",
                "result": verdict(local["ratio"], AIM_LOCAL_RATIO),
            }
        )
    celery = results.get("celery", {})
    if "speedup" in celery:
        aims.append(
            {
                "aim": "celery: 1 worker / 2 workers wall (no aim)",
                "figure": f"{celery['speedup']:.3f}",
                "result": "-",
            }
        )
    return aims


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs per side (after one warm-up each)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = sys.version.split()[0]
    print(f"bench/overhead.py: Python {python}, {os.cpu_count()} CPUs, {args.runs} runs per side")
    benches = {"local": bench_local, "celery": bench_celery}
    folder = Path(tempfile.mkdtemp(prefix="mlpipe-bench-overhead-"))
    results: dict[str, Any] = {"runs": args.runs, "python": sys.version.split()[0], "cpus": os.cpu_count()}
    started = time.monotonic()
    try:
        for name in SECTIONS:
            if name not in args.only:
                continue
            try:
                results[name] = benches[name](folder / name, args)
            except Exception as error:
                traceback.print_exc()
                print(f"\nsection {name} could not run: {error}")
                results[name] = {"error": str(error)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    aims = summary(results)
    results["summary"] = aims
    print(f"\nSummary ({time.monotonic() - started:.0f} s)")
    print(row("aim", "figure", "result", width=52))
    for aim in aims:
        print(row(aim["aim"], aim["figure"], aim["result"], width=52))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 1 if any("error" in results.get(name, {}) for name in SECTIONS) else 0


if __name__ == "__main__":
    sys.exit(main())

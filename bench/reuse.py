"""Reuse benchmark: what skipping unchanged steps costs and saves.

Run by hand: `.venv/bin/python bench/reuse.py [--quick] [--json PATH] [--only SECTION ...]`

Three sections, each printed as a table with its aims, then a summary (PASS, or ABOVE/BELOW the aim):

1. `example`: the example DAG (`dags/mlpipe_compare_models.py`) run twice with `dag.test()` in one
   process, in a fresh AIRFLOW_HOME (SQLite, `airflow db migrate`, embedded datastore in the temp
   folder). Wall time of each run and script executions per run, read from each task's
   `mlpipe_reuse` XCom (a "miss" ran the script, a "hit" did not). The Airflow part runs in a
   subprocess (`--worker example`), so this process never imports Airflow.
2. `blob`: the key of a DataReference holding 1 GiB in 1,000 blobs of 1 MiB on Azurite:
   `BlobDatastore.content_identity(prefix)` against one plain `list_blobs` listing (median of 5),
   and the bytes of blob content downloaded during `content_identity`, counted on the wire by a
   `raw_response_hook` (GET requests that are not listings; listings are counted apart).
3. `tree` and `file`: hashing a source_directory. 5,000 small files with `tree_digest` and a
   `HashCache` (cold, then warm) against reading every file; one 1 GiB file with `file_digest`
   (blake3) against `hashlib.sha256`.

`--quick`: 100 blobs of 64 KiB and a 256 MiB file. Everything is made in one temporary folder,
removed at the end; Azurite is stopped. The exit code is 0 whatever the figures (1 only when a
section could not run): this measures, it does not judge.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `tests.services.azurite` and the package, when run as a script
    sys.path.insert(0, str(REPO))

DAG_FILE = REPO / "dags" / "mlpipe_compare_models.py"
PREPARE_DATA = REPO / "dags" / "compare_models" / "prepare_data.py"
WORKER_MARKER = "BENCH-REUSE-JSON "

AIM_EXAMPLE_RATIO = 0.3  # second run / first run
AIM_EXAMPLE_SECOND_EXECUTIONS = 0
AIM_IDENTITY_RATIO = 1.3  # content_identity / one plain listing
AIM_CONTENT_BYTES = 0
AIM_WARM_TREE_S = 0.1
AIM_FILE_GBPS = 3.0

CONTAINER = "bench"
BLOB_PREFIX = "reuse-bench/data"
UPLOAD_WORKERS = 8
IDENTITY_RUNS = 5
SMALL_FILES = 5_000
SMALL_DIRS = 50
SMALL_SIZES = (1024, 4096)
WARM_EXTRA_RUNS = 5
BIG_RUNS = 3
CHUNK = 64 << 20
SECTIONS = ("example", "blob", "tree", "file")
GB = 1e9


# ---------------------------------------------------------------------- helpers


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def row(title: str, *cells: str, width: int = 34, cell: int = 16) -> str:
    return f"  {title:<{width}}" + "".join(f"{c:>{cell}}" for c in cells)


def verdict(value: float, aim: float, lower_is_better: bool = True) -> str:
    if lower_is_better:
        return "PASS" if value <= aim else "ABOVE"
    return "PASS" if value >= aim else "BELOW"


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


# ---------------------------------------------------------------------- 1. example DAG, twice


def worker_example() -> dict[str, Any]:
    """In the subprocess (env set by `bench_example`): upload the data, run the DAG twice."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from airflow_provider_mlpipe.contract import REUSE_XCOM_KEY

    runpy.run_path(str(PREPARE_DATA))["main"]()
    dag = runpy.run_path(str(DAG_FILE))["dag"]
    runs = []
    for _ in range(2):
        seconds, dag_run = timed(dag.test)
        tasks: dict[str, Any] = {}
        with create_session() as session:
            for ti in dag_run.get_task_instances(session=session):
                query = XComModel.get_many(
                    run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=ti.task_id, key=REUSE_XCOM_KEY
                )
                found = session.scalars(query).first()
                reuse = XComModel.deserialize_value(found) if found is not None else None
                tasks[ti.task_id] = {
                    "state": str(ti.state),
                    "duration_s": ti.duration,
                    "start": ti.start_date.isoformat() if ti.start_date else "",
                    "decision": reuse.get("decision") if isinstance(reuse, dict) else None,
                    "key": reuse.get("key") if isinstance(reuse, dict) else None,
                }
        runs.append(
            {
                "run_id": dag_run.run_id,
                "state": str(dag_run.state),
                "wall_s": seconds,
                "executions": sum(1 for t in tasks.values() if t["decision"] == "miss"),
                "tasks": tasks,
            }
        )
    return {"runs": runs}


def example_env(folder: Path) -> dict[str, str]:
    """A clean environment: no inherited AIRFLOW* settings, a private home, the repo's dags/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(folder / "airflow_home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__MLPIPE__EMBEDDED_ROOT": str(folder / "embedded"),
        }
    )
    return env


def bench_example(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    folder.mkdir()
    (folder / "airflow_home").mkdir()
    env = example_env(folder)
    airflow = Path(sys.executable).with_name("airflow")
    migrate_s, done = timed(
        lambda: subprocess.run(
            [str(airflow), "db", "migrate"], env=env, cwd=folder, capture_output=True, text=True
        )
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{(done.stdout + done.stderr)[-3000:]}")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "example"]
    done = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True)
    answers = [line for line in done.stdout.splitlines() if line.startswith(WORKER_MARKER)]
    if done.returncode != 0 or not answers:
        raise RuntimeError(
            f"example worker failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}"
        )
    runs = json.loads(answers[-1][len(WORKER_MARKER) :])["runs"]
    first, second = runs
    ratio = second["wall_s"] / first["wall_s"]
    task_ids = sorted(first["tasks"], key=lambda t: first["tasks"][t]["start"])  # order they ran
    same_keys = all(first["tasks"][t]["key"] == second["tasks"][t]["key"] for t in task_ids)

    print(f"\n1. Example pipeline {DAG_FILE.relative_to(REPO)}: dag.test() twice in one process")
    print(f"   fresh AIRFLOW_HOME (SQLite, `airflow db migrate` took {migrate_s:.1f} s), embedded datastore")
    print(row("", "first run", "second run"))
    print(row("run state", first["state"], second["state"]))
    print(row("wall (s)", f"{first['wall_s']:.2f}", f"{second['wall_s']:.2f}"))
    print(row("script executions", str(first["executions"]), str(second["executions"])))
    for task_id in task_ids:
        cells = []
        for run in runs:
            task = run["tasks"][task_id]
            duration = task["duration_s"]
            took = f"{duration:.2f} s" if duration is not None else "?"
            cells.append(f"{task['decision'] or '-'} {took}")
        print(row(f"task {task_id} (reuse, duration)", *cells))
    print(row("reuse keys equal in both runs", "", "yes" if same_keys else "NO"))
    print(f"   ratio second/first: {ratio:.2f}x (aim <= {AIM_EXAMPLE_RATIO}x); executions 3 then 0 expected")
    return {
        "migrate_s": migrate_s,
        "first": first,
        "second": second,
        "ratio": ratio,
        "aim_ratio": AIM_EXAMPLE_RATIO,
        "same_keys": same_keys,
    }


# ---------------------------------------------------------------------- 2. blob content identity


class WireCounter:
    """A `raw_response_hook`: response body bytes of content GETs and of listings, kept apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.content_bytes = 0
        self.content_requests = 0
        self.listing_bytes = 0
        self.listing_requests = 0
        self.other_requests: Counter[str] = Counter()

    def __call__(self, pipeline_response: Any) -> None:
        request = pipeline_response.http_request
        response = pipeline_response.http_response
        listing = "list" in parse_qs(urlparse(request.url).query).get("comp", [])
        try:
            size = len(response.body())
        except Exception:  # a streamed body not read yet: what the server says it sends
            size = int(response.headers.get("Content-Length") or 0)
        with self._lock:
            if request.method == "GET" and listing:
                self.listing_bytes += size
                self.listing_requests += 1
            elif request.method == "GET":
                self.content_bytes += size
                self.content_requests += 1
            else:
                self.other_requests[request.method] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "content_bytes": self.content_bytes,
            "content_requests": self.content_requests,
            "listing_bytes": self.listing_bytes,
            "listing_requests": self.listing_requests,
            "other_requests": dict(self.other_requests),
        }


def upload_blobs(container_client: Any, count: int, size: int) -> float:
    """`count` blobs of `size` bytes under BLOB_PREFIX, 8 at a time; returns the seconds taken."""
    payload = os.urandom(size)

    def put(index: int) -> None:
        data = index.to_bytes(8, "big") + payload[8:]  # every blob differs in its first bytes
        container_client.upload_blob(f"{BLOB_PREFIX}/part-{index:05d}.bin", data, overwrite=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS) as pool:
        list(pool.map(put, range(count)))
    return time.perf_counter() - start


def bench_blob(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from azure.storage.blob import BlobServiceClient

    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore
    from tests.services.azurite import blob_connection, start_azurite

    count, size = (100, 64 << 10) if args.quick else (1000, 1 << 20)
    folder.mkdir()
    # start_azurite() only takes a --location folder (Azurite's --inMemoryPersistence is not exposed).
    server = start_azurite(folder / "azurite")
    try:
        service = BlobServiceClient.from_connection_string(server.connection_string)
        container_client = service.get_container_client(CONTAINER)
        container_client.create_container()
        upload_s = upload_blobs(container_client, count, size)

        extra = blob_connection(server, CONTAINER)["extra"]
        conn = types.SimpleNamespace(
            conn_type="wasb", host=None, login=None, password=None, extra_dejson=extra
        )
        datastore = BlobDatastore.from_connection("bench_blob", conn)
        listing_client = BlobServiceClient.from_connection_string(server.connection_string)
        plain_container = listing_client.get_container_client(CONTAINER)

        def identity() -> list[tuple[str, str]]:
            return datastore.content_identity(BLOB_PREFIX)

        def listing() -> list[Any]:
            return list(plain_container.list_blobs(name_starts_with=BLOB_PREFIX))

        found, listed = identity(), listing()  # untimed: open the connections
        if len(found) != count or len(listed) != count:
            raise RuntimeError(
                f"expected {count} blobs, content_identity {len(found)}, listing {len(listed)}"
            )
        identity_s: list[float] = []
        listing_s: list[float] = []
        for _ in range(IDENTITY_RUNS):  # alternate, to spread the machine's noise
            identity_s.append(timed(identity)[0])
            listing_s.append(timed(listing)[0])
        ratio = median(identity_s) / median(listing_s)

        counter = WireCounter()
        counted_client = BlobServiceClient.from_connection_string(
            server.connection_string, raw_response_hook=counter
        )
        counted = BlobDatastore("bench_blob_counted", counted_client, CONTAINER)
        counted_found = counted.content_identity(BLOB_PREFIX)
        wire = counter.snapshot()
        if counted_found != found:
            raise RuntimeError("content_identity differs between the timed and the counted datastore")
        counter.reset()  # prove the counter sees content: read one blob through the same client
        one = counted.read_bytes(f"{BLOB_PREFIX}/part-00000.bin")
        check = counter.snapshot()
        counter_ok = one is not None and check["content_bytes"] == len(one) == size
    finally:
        server.stop()

    total = count * size
    print(f"\n2. Key of a DataReference: {count} blobs x {size_text(size)} = {size_text(total)} on Azurite")
    print(f"   (uploaded in {upload_s:.1f} s by {UPLOAD_WORKERS} threads; Azurite keeps them on disk)")
    print(row("", "median (ms)", "min (ms)", "max (ms)"))
    for title, values in (
        ("BlobDatastore.content_identity", identity_s),
        ("plain list_blobs (one listing)", listing_s),
    ):
        ms = [v * 1000 for v in values]
        print(row(title, f"{median(ms):.1f}", f"{min(ms):.1f}", f"{max(ms):.1f}"))
    aim = f"aim <= {AIM_IDENTITY_RATIO}x"
    print(f"   ratio content_identity/listing: {ratio:.2f}x ({aim}), {IDENTITY_RUNS} runs each, alternated")
    print("   on the wire during one content_identity (raw_response_hook on its BlobServiceClient):")
    print(row("blob content read (GET, not list)", f"{wire['content_bytes']} B", width=40))
    print(row("  content GET requests", str(wire["content_requests"]), width=40))
    print(row("listing bytes (GET comp=list)", f"{wire['listing_bytes']} B", width=40))
    print(row("  listing requests (pages)", str(wire["listing_requests"]), width=40))
    others = ", ".join(f"{m} {n}" for m, n in sorted(wire["other_requests"].items())) or "none"
    print(row("  other requests", others, width=40))
    print(
        f"   content bytes: {wire['content_bytes']} (aim {AIM_CONTENT_BYTES}); counter check: "
        f"read_bytes of one blob counted {check['content_bytes']} B of {size} "
        f"({'ok' if counter_ok else 'COUNTER DOES NOT SEE CONTENT'})"
    )
    return {
        "blobs": count,
        "blob_bytes": size,
        "total_bytes": total,
        "upload_s": upload_s,
        "content_identity_ms": [v * 1000 for v in identity_s],
        "listing_ms": [v * 1000 for v in listing_s],
        "content_identity_median_ms": median(identity_s) * 1000,
        "listing_median_ms": median(listing_s) * 1000,
        "ratio": ratio,
        "aim_ratio": AIM_IDENTITY_RATIO,
        "wire": wire,
        "counter_check": check,
        "counter_ok": counter_ok,
    }


# ---------------------------------------------------------------------- 3a. many small files


class HashCounter:
    """Counts calls of `content_hash._hash_file` (files really hashed) while installed."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.original = module._hash_file
        self.calls = 0

    def __enter__(self) -> HashCounter:
        def counting(path: str, size: int) -> str:
            self.calls += 1
            return self.original(path, size)

        self.module._hash_file = counting
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.module._hash_file = self.original


def write_small_tree(root: Path, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    pool = os.urandom(SMALL_SIZES[1] * 4)
    names = []
    for i in range(SMALL_FILES):
        relative = f"pkg_{i % SMALL_DIRS:02d}/module_{i:05d}.py"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        offset = rng.randrange(len(pool) - SMALL_SIZES[1])
        path.write_bytes(pool[offset : offset + rng.randint(*SMALL_SIZES)])
        names.append(relative)
    return names


def bench_tree(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_mlpipe.runtime import content_hash
    from airflow_provider_mlpipe.runtime.content_hash import HashCache, tree_digest

    folder.mkdir()
    root = folder / "source"
    names = write_small_tree(root)
    total = sum((root / n).stat().st_size for n in names)
    # Freshly written files are "racy" (ctime within RACY_WINDOW_NS of the pass) and would be hashed
    # again by the warm pass; a real source folder is older than that.
    time.sleep(content_hash.RACY_WINDOW_NS / 1e9 + 0.1)
    absolute = [str(root / n) for n in names]

    def read_all() -> int:
        read = 0
        for path in absolute:
            with open(path, "rb") as handle:
                read += len(handle.read())
        return read

    read_s = median([timed(read_all)[0] for _ in range(3)])
    nocache_s, plain = timed(lambda: tree_digest(root, names, None))
    db = folder / "cache" / "file_hashes.sqlite"

    def measure(hash_cache: HashCache) -> tuple[float, int]:
        """Seconds of one tree_digest with `hash_cache`, and how many files it really hashed."""
        with HashCounter(content_hash) as counter:
            seconds, tree = timed(lambda: tree_digest(root, names, hash_cache))
        if tree != plain:
            raise RuntimeError("tree_digest with the cache differs from the uncached one")
        return seconds, counter.calls

    def reopened() -> tuple[float, int]:
        fresh = HashCache(db)  # as a new task process: the database is opened again
        try:
            return measure(fresh)
        finally:
            fresh.close()

    cache = HashCache(db)
    try:
        cold_s, cold_hashed = measure(cache)
        warm_s, warm_hashed = measure(cache)
        more = [measure(cache) for _ in range(WARM_EXTRA_RUNS)]
        fresh = [reopened() for _ in range(WARM_EXTRA_RUNS)]
    finally:
        cache.close()
    rows = [
        ("tree_digest cold (empty cache DB)", cold_s, cold_hashed),
        ("tree_digest warm (second run)", warm_s, warm_hashed),
        (f"warm, median of {WARM_EXTRA_RUNS} more", median([t for t, _ in more]), sum(n for _, n in more)),
        (
            f"warm, DB opened afresh (median {WARM_EXTRA_RUNS})",
            median([t for t, _ in fresh]),
            sum(n for _, n in fresh),
        ),
    ]

    print(f"\n3a. tree_digest of a source_directory: {SMALL_FILES} files of 1-4 KiB ({total / 1e6:.1f} MB)")
    print("   (files in the page cache; written before the racy window, as a real source folder)")
    print(row("", "seconds", "files hashed", "vs read all"))
    print(row("open+read all files (median of 3)", f"{read_s:.3f}", "-", "1.00x"))
    print(row("tree_digest, no cache", f"{nocache_s:.3f}", str(SMALL_FILES), f"{nocache_s / read_s:.2f}x"))
    for title, seconds, hashed in rows:
        print(row(title, f"{seconds:.3f}", str(hashed), f"{seconds / read_s:.2f}x"))
    print(f"   warm (second run): {warm_s:.3f} s (aim <= {AIM_WARM_TREE_S} s)")
    return {
        "files": SMALL_FILES,
        "total_bytes": total,
        "read_all_s": read_s,
        "no_cache_s": nocache_s,
        "cold_s": cold_s,
        "cold_hashed": cold_hashed,
        "warm_s": warm_s,
        "warm_hashed": warm_hashed,
        "warm_more_s": [t for t, _ in more],
        "warm_more_hashed": sum(n for _, n in more),
        "warm_reopened_s": [t for t, _ in fresh],
        "warm_reopened_hashed": sum(n for _, n in fresh),
        "aim_warm_s": AIM_WARM_TREE_S,
    }


# ---------------------------------------------------------------------- 3b. one big file


def bench_file(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    import blake3

    from airflow_provider_mlpipe.runtime.content_hash import file_digest

    size = (256 << 20) if args.quick else (1 << 30)
    folder.mkdir()
    path = folder / "big.bin"
    try:
        with open(path, "wb") as handle:
            for _ in range(size // CHUNK):
                handle.write(os.urandom(CHUNK))

        def sha256() -> str:
            with open(path, "rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest()

        def blake3_one_thread() -> str:
            hasher = blake3.blake3()
            hasher.update_mmap(str(path))
            return hasher.hexdigest()

        figures = {}
        for label, function in (
            ("file_digest", lambda: file_digest(path)),
            ("sha256", sha256),
            ("blake3_1_thread", blake3_one_thread),
        ):
            seconds = [timed(function)[0] for _ in range(BIG_RUNS)]
            figures[label] = {
                "seconds": seconds,
                "median_s": median(seconds),
                "gbps": size / GB / median(seconds),
            }
    finally:
        path.unlink(missing_ok=True)

    gbps = figures["file_digest"]["gbps"]
    print(
        f"\n3b. One {size_text(size)} file (in the page cache): median of {BIG_RUNS}, {os.cpu_count()} CPUs"
    )
    print(row("", "seconds", "GB/s", "vs sha256"))
    sha = figures["sha256"]["gbps"]
    for label, title in (
        ("file_digest", "file_digest (blake3, mmap, threads)"),
        ("blake3_1_thread", "blake3, mmap, 1 thread"),
        ("sha256", "hashlib sha256 (file_digest)"),
    ):
        f = figures[label]
        print(row(title, f"{f['median_s']:.3f}", f"{f['gbps']:.2f}", f"{f['gbps'] / sha:.2f}x"))
    print(f"   file_digest: {gbps:.2f} GB/s (aim >= {AIM_FILE_GBPS} GB/s; GB = 1e9 bytes)")
    return {"bytes": size, "cpus": os.cpu_count(), **figures, "aim_gbps": AIM_FILE_GBPS}


# ---------------------------------------------------------------------- summary and main


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each aim of the sections that ran: its figure and PASS, ABOVE or BELOW (ERROR: did not run)."""
    aims: list[dict[str, Any]] = []

    def add(
        section: str, title: str, figure: Callable[[dict[str, Any]], str], result: Callable[..., str]
    ) -> None:
        if section not in results:
            return
        figures = results[section]
        if "error" in figures:
            aims.append({"aim": title, "figure": "failed", "result": "ERROR"})
        else:
            aims.append({"aim": title, "figure": figure(figures), "result": result(figures)})

    add(
        "example",
        f"example: second run <= {AIM_EXAMPLE_RATIO}x first",
        lambda f: f"{f['ratio']:.2f}x",
        lambda f: verdict(f["ratio"], AIM_EXAMPLE_RATIO),
    )
    add(
        "example",
        "example: script executions 3 then 0",
        lambda f: f"{f['first']['executions']} then {f['second']['executions']}",
        lambda f: "PASS" if (f["first"]["executions"], f["second"]["executions"]) == (3, 0) else "ABOVE",
    )
    add(
        "blob",
        f"blob: content_identity <= {AIM_IDENTITY_RATIO}x listing",
        lambda f: f"{f['ratio']:.2f}x",
        lambda f: verdict(f["ratio"], AIM_IDENTITY_RATIO),
    )
    add(
        "blob",
        "blob: content bytes read by content_identity = 0",
        lambda f: f"{f['wire']['content_bytes']} B",
        lambda f: verdict(f["wire"]["content_bytes"], AIM_CONTENT_BYTES),
    )
    add(
        "tree",
        f"tree: warm tree_digest <= {AIM_WARM_TREE_S} s",
        lambda f: f"{f['warm_s']:.3f} s",
        lambda f: verdict(f["warm_s"], AIM_WARM_TREE_S),
    )
    add(
        "file",
        f"file: file_digest >= {AIM_FILE_GBPS} GB/s",
        lambda f: f"{f['file_digest']['gbps']:.2f} GB/s",
        lambda f: verdict(f["file_digest"]["gbps"], AIM_FILE_GBPS, lower_is_better=False),
    )
    return aims


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 blobs of 64 KiB, a 256 MiB file")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--worker", choices=["example"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker == "example":
        print(WORKER_MARKER + json.dumps(worker_example()))
        return 0
    benches = {"example": bench_example, "blob": bench_blob, "tree": bench_tree, "file": bench_file}
    quick = " --quick" if args.quick else ""
    print(f"bench/reuse.py{quick}: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    folder = Path(tempfile.mkdtemp(prefix="mlpipe-bench-reuse-"))
    results: dict[str, Any] = {"quick": args.quick, "python": sys.version.split()[0], "cpus": os.cpu_count()}
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
    results["bench_process_imported_airflow"] = "airflow" in sys.modules
    print("\nSummary")
    print(row("aim", "figure", "result", width=52))
    for aim in aims:
        print(row(aim["aim"], aim["figure"], aim["result"], width=52))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 1 if any("error" in results.get(name, {}) for name in SECTIONS) else 0


if __name__ == "__main__":
    sys.exit(main())

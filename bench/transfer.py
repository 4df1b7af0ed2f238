"""Data movement benchmark: our Blob datastore code against plain azure-storage-blob; copy_data.

Run by hand:
`.venv/bin/python bench/transfer.py [--quick] [--sizes MIB ...] [--runs N] [--json PATH] [--only SECTION ...]`

Everything runs on Azurite (started in a temporary folder, data on disk). Three sections, each
printed as a table with its aims, then a summary (PASS, or BELOW/ABOVE the aim):

1. `sizes`: one file of random bytes of each size, 8 MiB, 64 MiB, 256 MiB and 1 GiB. Upload with
   `BlobDatastore.upload_file` against plain `upload_blob(f, length=..., max_concurrency=4)`;
   download with `BlobDatastore.download` (a path of unknown kind: a file is one GET) and with
   `BlobDatastore.download_file` (a known file) against plain `download_blob(max_concurrency=4)
   .readinto(f)`: the plain client is built with the SDK's defaults and given the concurrency
   ours uses per file (MAX_BLOB_CONCURRENCY). Runs alternate (which side goes first alternates
   too), median of 3: seconds, MB/s and the throughput ratio ours/plain (aim >= 0.9x), and the
   CPU seconds Azurite spent per run (it shares the 2 cores: where the time goes on a busy
   machine). Then the ratios of every size side by side.
2. `small`: a folder of 2,000 files of 1-8 KiB. `BlobDatastore.upload_directory` and
   `download` against plain `upload_blob` / `download_blob().readinto` of each file on a
   ThreadPoolExecutor of 8 (the plain download lists the prefix first, as ours does). Same figures.
3. `copy`: `copy_data` of the 2,000-file folder from one container to another on the same
   account (server-side: Copy Blob), median of 3, with the bytes of blob content that went
   through the worker, counted on the wire by a `raw_response_hook` on both datastores' clients
   (GET requests that are not listings; aim 0). For comparison, the same copy to a second
   Azurite (another account: streamed through the worker).

`--quick`: the 64 MiB file only (the folder stays at 2,000 files); `--sizes` picks the sizes in
MiB. MB = 1e6 bytes. Everything is made
in one temporary folder, removed at the end; the Azurite instances are stopped. The exit code is
0 whatever the figures (1 only when a section could not run): this measures, it does not judge.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
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

AIM_RATIO = 0.9  # ours / plain throughput
AIM_WORKER_BYTES = 0
RUNS = 3
PLAIN_CONCURRENCY = 8  # threads of the plain small-file loops (ours: MAX_FILE_WORKERS)
SIZES_MIB = (8, 64, 256, 1024)
QUICK_SIZES_MIB = (64,)
SMALL_FILES = 2_000
SMALL_DIRS = 20
SMALL_SIZES = (1024, 8192)
CHUNK = 64 << 20
CONTAINER = "bench"
COPY_CONTAINER = "bench-copy"
SECTIONS = ("sizes", "small", "copy")
MB = 1e6


# ---------------------------------------------------------------------- helpers


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def row(title: str, *cells: str, width: int = 30, cell: int = 13) -> str:
    return f"  {title:<{width}}" + "".join(f"{c:>{cell}}" for c in cells)


def verdict(value: float, aim: float, lower_is_better: bool = False) -> str:
    if lower_is_better:
        return "PASS" if value <= aim else "ABOVE"
    return "PASS" if value >= aim else "BELOW"


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n / MB:.1f} MB"


class WireCounter:
    """A `raw_response_hook`: response body bytes of content GETs and of listings, kept apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.content_bytes = 0
        self.content_requests = 0
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
            "listing_requests": self.listing_requests,
            "other_requests": dict(self.other_requests),
        }


def our_datastore(server: Any, name: str, container: str = CONTAINER) -> Any:
    """A BlobDatastore built the way a task builds it: from a wasb connection."""
    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore
    from tests.services.azurite import blob_connection

    extra = blob_connection(server, container)["extra"]
    conn = types.SimpleNamespace(conn_type="wasb", host=None, login=None, password=None, extra_dejson=extra)
    return BlobDatastore.from_connection(name, conn)


def plain_container(server: Any, container: str = CONTAINER) -> Any:
    """A container client of plain azure-storage-blob with the SDK's default settings."""
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(server.connection_string).get_container_client(container)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (Linux /proc), None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def compare(
    ours: Callable[[], Any],
    plain: Callable[[], Any],
    size: int,
    reset: Callable[[str], Any],
    server_pid: int | None = None,
) -> dict[str, Any]:
    """RUNS of each, alternating (and alternating which goes first); seconds, MB/s and the ratio.

    `reset(side)` runs, untimed, before each run of that side ("ours" or "plain"). With
    `server_pid`, also the CPU seconds that process (Azurite) spent during each run.
    """
    seconds: dict[str, list[float]] = {"ours": [], "plain": []}
    server_cpu: dict[str, list[float]] = {"ours": [], "plain": []}
    for run in range(RUNS):
        order = [("ours", ours), ("plain", plain)]
        for label, function in order if run % 2 == 0 else reversed(order):
            reset(label)
            before = process_cpu_seconds(server_pid) if server_pid else None
            seconds[label].append(timed(function)[0])
            after = process_cpu_seconds(server_pid) if server_pid else None
            if before is not None and after is not None:
                server_cpu[label].append(after - before)
    figures: dict[str, Any] = {"bytes": size}
    for label, values in seconds.items():
        figures[label] = {"seconds": values, "median_s": median(values), "mbps": size / MB / median(values)}
        if server_cpu[label]:
            figures[label]["server_cpu_s"] = median(server_cpu[label])
    figures["ratio"] = figures["ours"]["mbps"] / figures["plain"]["mbps"]
    return figures


def print_comparison(title: str, figures: dict[str, Any]) -> None:
    ours, plain = figures["ours"], figures["plain"]
    cells = [
        f"{ours['median_s']:.3f}",
        f"{plain['median_s']:.3f}",
        f"{ours['mbps']:.1f}",
        f"{plain['mbps']:.1f}",
        f"{figures['ratio']:.2f}x",
    ]
    if "server_cpu_s" in ours and "server_cpu_s" in plain:
        cells += [f"{ours['server_cpu_s']:.2f}", f"{plain['server_cpu_s']:.2f}"]
    print(row(title, *cells))


def comparison_header(server_cpu: bool = False) -> None:
    cells = ["ours (s)", "plain (s)", "ours MB/s", "plain MB/s", "ours/plain"]
    if server_cpu:
        cells += ["srvCPU ours", "srvCPU plain"]
    print(row("", *cells))


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------- 1. one file of each size


def write_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        left = size
        while left:
            piece = min(CHUNK, left)
            handle.write(os.urandom(piece))
            left -= piece


def bench_sizes(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from airflow_provider_mlpipe.hooks.blob_datastore import MAX_BLOB_CONCURRENCY
    from tests.services.azurite import start_azurite

    sizes = [mib << 20 for mib in (args.sizes or (QUICK_SIZES_MIB if args.quick else SIZES_MIB))]
    folder.mkdir()
    server = start_azurite(folder / "azurite")
    figures: dict[str, Any] = {"concurrency": MAX_BLOB_CONCURRENCY, "runs": {}}
    try:
        ours = our_datastore(server, "bench_sizes")
        plain = plain_container(server)
        plain.create_container()
        pid = server.process.pid if process_cpu_seconds(server.process.pid) is not None else None
        source, ours_back, plain_back = folder / "file.bin", folder / "ours.bin", folder / "plain.bin"
        backs = {"ours": ours_back, "plain": plain_back}
        for size in sizes:
            write_random_file(source, size)

            def ours_upload() -> None:
                ours.upload_file(source, "ours/file.bin", overwrite=True)

            def plain_upload(size: int = size) -> None:
                with open(source, "rb") as handle:
                    plain.upload_blob(
                        "plain/file.bin",
                        handle,
                        length=size,
                        overwrite=True,
                        max_concurrency=MAX_BLOB_CONCURRENCY,
                    )

            def ours_download() -> None:
                ours.download("ours/file.bin", ours_back)

            def ours_download_file() -> None:
                ours.download_file("ours/file.bin", ours_back)

            def plain_download() -> None:
                with open(plain_back, "wb") as handle:
                    plain.download_blob("plain/file.bin", max_concurrency=MAX_BLOB_CONCURRENCY).readinto(
                        handle
                    )

            upload = compare(ours_upload, plain_upload, size, lambda side: None, pid)
            download = compare(ours_download, plain_download, size, lambda side: remove(backs[side]), pid)
            identical = same_bytes(source, ours_back) and same_bytes(source, plain_back)
            download_file = compare(
                ours_download_file, plain_download, size, lambda side: remove(backs[side]), pid
            )
            identical = identical and same_bytes(source, ours_back)
            figures["runs"][size_text(size)] = {
                "bytes": size,
                "upload": upload,
                "download": download,
                "download_file": download_file,
                "identical": identical,
            }
            for path in (source, ours_back, plain_back):
                remove(path)
            for name in ("ours/file.bin", "plain/file.bin"):
                plain.delete_blob(name)  # keeps Azurite's folder from growing by every size
    finally:
        server.stop()

    print(
        f"\n1. One file of each size on Azurite: median of {RUNS}, alternated, {os.cpu_count()} CPUs; "
        f"srv CPU = Azurite's CPU seconds per run"
    )
    print(
        "   plain: the SDK's defaults, upload_blob / download_blob(...).readinto with "
        f"max_concurrency={MAX_BLOB_CONCURRENCY} (ours per file: MAX_BLOB_CONCURRENCY={MAX_BLOB_CONCURRENCY})"
    )
    comparison_header(server_cpu=pid is not None)
    for label, run in figures["runs"].items():
        print_comparison(f"upload {label}", run["upload"])
        print_comparison(f"download {label}", run["download"])
        print_comparison(f"download_file {label}", run["download_file"])
    print(
        f"   ratios ours/plain (throughput, aim >= {AIM_RATIO}x); download: a path of unknown kind, "
        "download_file: a known file"
    )
    print(row("size", "upload", "download", "download_file", "identical", width=12, cell=15))
    for label, run in figures["runs"].items():
        print(
            row(
                label,
                f"{run['upload']['ratio']:.2f}x",
                f"{run['download']['ratio']:.2f}x",
                f"{run['download_file']['ratio']:.2f}x",
                "yes" if run["identical"] else "NO",
                width=12,
                cell=15,
            )
        )
    return figures


def same_bytes(a: Path, b: Path) -> bool:
    """Byte-for-byte equality, read in pieces (a 1 GiB file is not held in memory twice)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as left, open(b, "rb") as right:
        while True:
            piece = left.read(CHUNK)
            if piece != right.read(CHUNK):
                return False
            if not piece:
                return True


# ---------------------------------------------------------------------- 2. many small files


def write_small_tree(root: Path, seed: int = 1234) -> int:
    rng = random.Random(seed)
    pool = os.urandom(SMALL_SIZES[1] * 4)
    total = 0
    for i in range(SMALL_FILES):
        path = root / f"part_{i % SMALL_DIRS:02d}" / f"file_{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.randint(*SMALL_SIZES)
        offset = rng.randrange(len(pool) - size)
        path.write_bytes(i.to_bytes(4, "big") + pool[offset + 4 : offset + size])
        total += size
    return total


def bench_small(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from tests.services.azurite import start_azurite

    folder.mkdir()
    source = folder / "small"
    total = write_small_tree(source)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    server = start_azurite(folder / "azurite")
    try:
        ours = our_datastore(server, "bench_small")
        plain = plain_container(server)
        plain.create_container()
        ours_back, plain_back = folder / "ours", folder / "plain"

        def ours_upload() -> None:
            ours.upload_directory(source, "ours/small", overwrite=True)

        def plain_upload() -> None:
            def put(path: Path) -> None:
                with open(path, "rb") as handle:
                    name = f"plain/small/{path.relative_to(source).as_posix()}"
                    plain.upload_blob(name, handle, length=path.stat().st_size, overwrite=True)

            with ThreadPoolExecutor(max_workers=PLAIN_CONCURRENCY) as pool:
                list(pool.map(put, files))

        def ours_download() -> None:
            ours.download("ours/small", ours_back)

        def plain_download() -> None:
            names = [b.name for b in plain.list_blobs(name_starts_with="plain/small/")]

            def get(name: str) -> None:
                target = plain_back / name[len("plain/small/") :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as handle:
                    plain.download_blob(name).readinto(handle)

            with ThreadPoolExecutor(max_workers=PLAIN_CONCURRENCY) as pool:
                list(pool.map(get, names))

        backs = {"ours": ours_back, "plain": plain_back}
        upload = compare(ours_upload, plain_upload, total, lambda side: None)
        download = compare(ours_download, plain_download, total, lambda side: remove(backs[side]))
        identical = all(
            (ours_back / p.relative_to(source)).read_bytes()
            == (plain_back / p.relative_to(source)).read_bytes()
            == p.read_bytes()
            for p in files
        )
    finally:
        server.stop()

    print(
        f"\n2. A folder of {SMALL_FILES} files of 1-8 KiB ({total / MB:.1f} MB) on Azurite: median of "
        f"{RUNS}, alternated"
    )
    print(f"   plain: one upload_blob / download_blob per file on a pool of {PLAIN_CONCURRENCY} threads")
    comparison_header()
    print_comparison("upload_directory / upload", upload)
    print_comparison("download (folder)", download)
    files_per_s = {
        k: SMALL_FILES / f["ours"]["median_s"] for k, f in (("upload", upload), ("download", download))
    }
    print(
        f"   ours: {files_per_s['upload']:.0f} files/s up, {files_per_s['download']:.0f} files/s down; "
        f"ratio ours/plain: upload {upload['ratio']:.2f}x, download {download['ratio']:.2f}x "
        f"(aim >= {AIM_RATIO}x); byte-identical: {'yes' if identical else 'NO'}"
    )
    return {
        "files": SMALL_FILES,
        "bytes": total,
        "upload": upload,
        "download": download,
        "files_per_s": files_per_s,
        "identical": identical,
    }


# ---------------------------------------------------------------------- 3. copy_data


def bench_copy(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from azure.storage.blob import BlobServiceClient

    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore, client_options
    from airflow_provider_mlpipe.runtime.transfer import copy_data
    from tests.services.azurite import start_azurite

    folder.mkdir()
    source_dir = folder / "small"
    total = write_small_tree(source_dir)
    server = start_azurite(folder / "azurite")
    other = start_azurite(folder / "azurite-other")
    try:
        counter = WireCounter()

        def counted(srv: Any, name: str, container: str) -> BlobDatastore:
            client = BlobServiceClient.from_connection_string(
                srv.connection_string, raw_response_hook=counter, **client_options()
            )
            return BlobDatastore(name, client, container)

        source = counted(server, "bench_source", CONTAINER)
        source.upload_directory(source_dir, "data")
        same = counted(server, "bench_same_account", COPY_CONTAINER)
        elsewhere = counted(other, "bench_other_account", COPY_CONTAINER)

        runs: dict[str, list[dict[str, Any]]] = {"server-side": [], "streamed": []}
        for run in range(RUNS):
            order = [("server-side", same), ("streamed", elsewhere)]
            for label, destination in order if run % 2 == 0 else reversed(order):
                destination.delete("copy")  # untimed: each copy goes to an empty destination
                counter.reset()
                seconds, result = timed(
                    lambda d=destination: copy_data(source, "data", d, "copy", "directory")
                )
                runs[label].append({"seconds": seconds, "result": vars(result), "wire": counter.snapshot()})
        check = {
            label: destination.list_files("copy") == source.list_files("data")
            and destination.content_identity("copy") != []
            for label, destination in (("server-side", same), ("streamed", elsewhere))
        }
        sample = "data/part_07/file_00007.bin"
        check_bytes = same.read_bytes("copy/part_07/file_00007.bin") == source.read_bytes(sample)
    finally:
        server.stop()
        other.stop()

    figures: dict[str, Any] = {"files": SMALL_FILES, "bytes": total}
    print(
        f"\n3. copy_data of the {SMALL_FILES}-file folder ({total / MB:.1f} MB), Blob -> Blob, "
        f"median of {RUNS}"
    )
    print(row("", "seconds", "files/s", "method", "content GET B", "GET requests", width=30, cell=14))
    for label, title in (
        ("server-side", "same account (server-side)"),
        ("streamed", "other account (streamed)"),
    ):
        values = runs[label]
        seconds = median([v["seconds"] for v in values])
        worker_bytes = max(v["wire"]["content_bytes"] for v in values)
        gets = max(v["wire"]["content_requests"] for v in values)
        method = values[-1]["result"]["method"]
        print(
            row(
                title,
                f"{seconds:.3f}",
                f"{SMALL_FILES / seconds:.0f}",
                method,
                str(worker_bytes),
                str(gets),
                width=30,
                cell=14,
            )
        )
        figures[label] = {
            "runs": values,
            "median_s": seconds,
            "files_per_s": SMALL_FILES / seconds,
            "method": method,
            "worker_content_bytes": worker_bytes,
            "content_get_requests": gets,
            "copied_all_files": check[label],
        }
    wire = runs["server-side"][-1]["wire"]
    others = ", ".join(f"{m} {n}" for m, n in sorted(wire["other_requests"].items())) or "none"
    print(f"   server-side, last run: listings {wire['listing_requests']}, other requests: {others}")
    print(
        f"   bytes of blob content through the worker, server-side: "
        f"{figures['server-side']['worker_content_bytes']} (aim {AIM_WORKER_BYTES}); "
        f"ratio server-side/streamed time: "
        f"{figures['server-side']['median_s'] / figures['streamed']['median_s']:.2f}x; "
        f"copies complete: {'yes' if all(check.values()) and check_bytes else 'NO'}"
    )
    return figures


# ---------------------------------------------------------------------- summary and main


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each aim of the sections that ran: its figure and PASS, BELOW or ABOVE (ERROR: did not run)."""
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

    sizes = results.get("sizes", {})
    for label in sizes.get("runs", {}) if "error" not in sizes else ["(all sizes)"]:
        for direction in ("upload", "download", "download_file"):
            add(
                "sizes",
                f"one {label} file: {direction} ours/plain >= {AIM_RATIO}x",
                lambda f, d=direction, s=label: f"{f['runs'][s][d]['ratio']:.2f}x",
                lambda f, d=direction, s=label: verdict(f["runs"][s][d]["ratio"], AIM_RATIO),
            )
    for direction in ("upload", "download"):
        add(
            "small",
            f"{SMALL_FILES} small files: {direction} ours/plain >= {AIM_RATIO}x",
            lambda f, d=direction: f"{f[d]['ratio']:.2f}x",
            lambda f, d=direction: verdict(f[d]["ratio"], AIM_RATIO),
        )
    add(
        "copy",
        "copy same account: method server-side",
        lambda f: f["server-side"]["method"],
        lambda f: "PASS" if f["server-side"]["method"] == "server-side" else "BELOW",
    )
    add(
        "copy",
        f"copy same account: worker bytes = {AIM_WORKER_BYTES}",
        lambda f: f"{f['server-side']['worker_content_bytes']} B",
        lambda f: verdict(f["server-side"]["worker_content_bytes"], AIM_WORKER_BYTES, lower_is_better=True),
    )
    return aims


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the 64 MiB file only")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        metavar="MIB",
        help=f"file sizes in MiB for section 'sizes' (default {' '.join(map(str, SIZES_MIB))})",
    )
    parser.add_argument(
        "--runs", type=int, default=RUNS, help=f"runs of each side per figure, median taken (default {RUNS})"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to PATH")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global RUNS
    args = parse_args(argv)
    RUNS = max(1, args.runs)
    benches = {"sizes": bench_sizes, "small": bench_small, "copy": bench_copy}
    quick = " --quick" if args.quick else ""
    print(f"bench/transfer.py{quick}: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    from airflow_provider_mlpipe.hooks import blob_datastore

    print(
        f"ours: BlobDatastore from a wasb connection (MAX_FILE_WORKERS={blob_datastore.MAX_FILE_WORKERS}, "
        f"MAX_BLOB_CONCURRENCY={blob_datastore.MAX_BLOB_CONCURRENCY}, "
        f"SINGLE_PUT_MAX={size_text(blob_datastore.SINGLE_PUT_MAX)}, "
        f"BLOCK_SIZE={size_text(blob_datastore.BLOCK_SIZE)}, pool {blob_datastore.POOL_SIZE} per host)"
    )
    folder = Path(tempfile.mkdtemp(prefix="mlpipe-bench-transfer-"))
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
                shutil.rmtree(folder / name, ignore_errors=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    aims = summary(results)
    results["summary"] = aims
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

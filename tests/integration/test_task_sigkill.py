"""SIGKILL of a task (OOM killer, worker crash) takes the step's script tree and working folder with it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.dagruns import write_project
from tests.integration.test_step_runs import _gone

pytestmark = pytest.mark.integration

ITERATIONS = 20

#: A script that starts a child (which starts a grandchild, all in the script's process group) and an
#: escaped grandchild (double fork + setsid: another session, re-parented away from the script),
#: writes every pid and its working folder to the marker file, then sleeps.
SPAWN = """
    import os, subprocess, sys, time
    marker = sys.argv[1]
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time; g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
         "print(g.pid, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    grandchild = int(child.stdout.readline())
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write_end, f"{os.getpid()}\\n".encode())
            time.sleep(60)
        os._exit(0)
    os.waitpid(middle, 0)
    escaped = int(os.read(read_end, 64))
    with open(marker + ".part", "w") as handle:
        handle.write(f"{os.getpid()} {child.pid} {grandchild} {escaped}\\n{os.path.dirname(os.getcwd())}\\n")
    os.replace(marker + ".part", marker)
    time.sleep(60)
"""


def test_sigkill_of_the_task_leaves_no_orphan_and_no_working_folder(airflow_home):
    marker = airflow_home / "sigkill-marker.txt"
    write_project(
        "sigkilled",
        f"""
        from airflow_provider_mlpipe import Pipeline, PythonScriptStep
        step = PythonScriptStep(
            "spawn.py", name="sigkill_probe", arguments=[{str(marker)!r}], source_directory="sigkilled_src",
            allow_reuse=False,
        )
        dag = Pipeline([step]).to_dag("sigkilled")
        """,
        {"spawn.py": SPAWN},
    )
    log_file = airflow_home / "sigkill-tasks.log"
    forker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.task_forker", "sigkilled", "sigkill_probe", str(log_file)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(os.environ),
        text=True,
    )
    orphans = folders = 0
    seconds = []
    try:
        assert forker.stdout.readline().strip() == "ready", log_file.read_text()[-3000:]
        for iteration in range(ITERATIONS):
            marker.unlink(missing_ok=True)
            started = time.monotonic()
            forker.stdin.write("start\n")
            forker.stdin.flush()
            task_pid = int(forker.stdout.readline())
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert forker.poll() is None and _alive(task_pid), log_file.read_text()[-3000:]
                assert time.monotonic() < deadline, "the script never started"
                time.sleep(0.05)
            pid_line, workdir = marker.read_text().splitlines()
            pids = [int(p) for p in pid_line.split()]
            os.kill(task_pid, signal.SIGKILL)
            assert forker.stdout.readline().strip() == f"ended {signal.SIGKILL}"
            deadline = time.monotonic() + 30
            survivors = [pid for pid in pids if not _gone(pid, within=max(0.0, deadline - time.monotonic()))]
            for pid in survivors:  # do not leave them running for the next iteration or other tests
                os.kill(pid, signal.SIGKILL)
            left = _folder_left(Path(workdir), within=30)
            orphans += bool(survivors)
            folders += left
            seconds.append(time.monotonic() - started)
            print(f"iteration {iteration}: survivors {survivors}, folder left {left}, {seconds[-1]:.1f} s")
    finally:
        forker.stdin.close()
        forker.wait(timeout=60)
    stray = [p.name for p in Path(tempfile.gettempdir()).glob("mlpipe-sigkill_probe-*")]
    print(
        f"SIGKILL x{ITERATIONS}: orphans {orphans}/{ITERATIONS}, folders {folders}/{ITERATIONS}, "
        f"{sum(seconds) / len(seconds):.1f} s per iteration"
    )
    assert (orphans, folders, stray) == (0, 0, [])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _folder_left(folder: Path, within: float) -> bool:
    """True when the attempt's working folder still exists after `within` seconds."""
    assert folder.name.startswith("mlpipe-"), folder
    deadline = time.monotonic() + within
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return False

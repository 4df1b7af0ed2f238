"""The script guardian (runtime/guard.py) through `ScriptProcess`: exit codes, logs, and the tree's death."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_provider_mlpipe.runtime.process import ScriptProcess

#: Runs ScriptProcess in its own process (the "task"), from the main thread or another one (a
#: parent-death signal would fire when that thread ends; the guardian's pipe does not care).
TASK = """
    import logging, os, sys, threading
    from pathlib import Path
    from airflow_provider_mlpipe.runtime.process import ScriptProcess
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    workdir = Path(sys.argv[1])
    process = ScriptProcess([sys.executable, "-c", sys.argv[2]], workdir, dict(os.environ), logging.getLogger("t"), workdir)
    if sys.argv[3] == "thread":
        runner = threading.Thread(target=process.run)
        runner.start()
        runner.join()
    else:
        process.run()
"""

#: A script whose tree ignores SIGTERM: a child in its group and an escaped grandchild (double fork +
#: setsid). Writes "script child escaped" pids to the marker, then sleeps.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
marker = {marker!r}
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(60)
    os._exit(0)
os.wait()
escaped = os.read(r, 32).decode()
open(marker + ".part", "w").write(f"{{os.getpid()}} {{child.pid}} {{escaped}}")
os.replace(marker + ".part", marker)
time.sleep(60)
"""


def run_script(code: str, tmp_path: Path) -> tuple[int, list[str], ScriptProcess]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger(f"guard-test-{id(lines)}")
    log.addHandler(Collect())
    log.setLevel(logging.INFO)
    process = ScriptProcess(
        [sys.executable, "-c", textwrap.dedent(code)], tmp_path, dict(os.environ), log, tmp_path
    )
    return process.run(), lines, process


def test_exit_codes_logs_and_stderr_tail_are_the_scripts(tmp_path):
    code, lines, process = run_script(
        "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)", tmp_path
    )
    assert code == 3
    assert "to stdout" in lines and "[stderr] to stderr" in lines
    assert list(process.stderr_tail) == ["to stderr"]
    assert (
        run_script("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", tmp_path)[0] == -signal.SIGKILL
    )
    assert run_script("pass", tmp_path)[0] == 0
    assert tmp_path.exists()  # a live task keeps its working folder: it publishes from it


def test_a_script_that_cannot_start_fails_with_127_and_says_why(tmp_path):
    log = logging.getLogger("guard-test-missing")
    process = ScriptProcess([str(tmp_path / "no-such-python")], tmp_path, dict(os.environ), log, tmp_path)
    assert process.run() == 127
    assert "cannot start" in process.stderr_tail[-1] and "no-such-python" in process.stderr_tail[-1]


def test_what_the_script_leaves_running_is_stopped_when_it_ends(tmp_path):
    pid_file = tmp_path / "daemon.pid"
    code, _, _ = run_script(
        f"""
        import os, subprocess, sys, time
        if os.fork() == 0:
            os.setsid()
            daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            open({str(pid_file)!r}, "w").write(str(daemon.pid))
            os._exit(0)
        os.wait()
        while not os.path.exists({str(pid_file)!r}):
            time.sleep(0.01)
        """,
        tmp_path,
    )
    assert code == 0
    assert gone(int(pid_file.read_text()), within=15)


@pytest.mark.parametrize("thread", ["main", "thread"])
def test_sigkill_of_the_task_stops_a_tree_that_ignores_sigterm_and_removes_the_working_folder(
    tmp_path, thread
):
    workdir = tmp_path / "mlpipe-attempt"
    workdir.mkdir()
    marker = tmp_path / "pids"
    task = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(TASK),
            str(workdir),
            STUBBORN.format(marker=str(marker)),
            thread,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert task.poll() is None, task.stdout.read()
            assert time.monotonic() < deadline, "the script never started"
            time.sleep(0.05)
        pids = [int(p) for p in marker.read_text().split()]
        task.kill()
        task.wait(timeout=30)
    finally:
        if task.poll() is None:
            task.kill()
    # The guardian waits its grace period (5 s) for SIGTERM, then SIGKILLs.
    survivors = [pid for pid in pids if not gone(pid, within=30)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
    assert folder_gone(workdir, within=30)


def test_the_tasks_kill_path_still_stops_the_whole_tree(tmp_path):
    marker = tmp_path / "pids"
    script = STUBBORN.format(marker=str(marker)).replace(
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n", "", 1
    )  # the script itself ends on SIGTERM; its child and escaped grandchild ignore it
    log = logging.getLogger("guard-test-kill")
    process = ScriptProcess([sys.executable, "-c", script], tmp_path, dict(os.environ), log, tmp_path)
    import threading

    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(process.run()))
    runner.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the script never started"
        time.sleep(0.05)
    pids = [int(p) for p in marker.read_text().split()]
    process.kill()
    runner.join(timeout=60)
    assert result == [-signal.SIGTERM]
    survivors = [pid for pid in pids if not gone(pid, within=30)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def gone(pid: int, within: float) -> bool:
    """True once `pid` no longer runs (a zombie waiting for its parent counts as gone)."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def folder_gone(folder: Path, within: float) -> bool:
    deadline = time.monotonic() + within
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not folder.exists()


#: The task as Airflow's task runner kills it: a SIGTERM handler in the main thread calls
#: `kill()` (on_kill) while that same thread waits inside `run()`. Prints how long kill() took.
KILLED_FROM_A_SIGNAL_HANDLER = """
    import logging, os, signal, sys, time
    from pathlib import Path
    from airflow_provider_mlpipe.runtime.process import ScriptProcess
    workdir = Path(sys.argv[1])
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(60)"
    process = ScriptProcess([sys.executable, "-c", script, str(workdir / "started")], workdir,
                            dict(os.environ), logging.getLogger("t"), workdir)
    def on_sigterm(*_):
        began = time.monotonic()
        process.kill()
        print(f"kill took {time.monotonic() - began:.2f} s", flush=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    print(f"exit {process.run()}", flush=True)
"""


def test_a_kill_from_the_signal_handler_of_the_waiting_thread_does_not_wait_out_the_grace_period(
    tmp_path,
):
    """The script dies at once on SIGTERM: kill() must return as soon as its tree is gone.

    Before, kill() waited with Popen.wait(timeout), which cannot reap the child while the
    interrupted wait in run() holds Popen's lock: every such kill took the full grace period
    and margin (10 s), e.g. each cancel of a local run.
    """
    from airflow_provider_mlpipe.runtime.process import KILL_GRACE_SECONDS

    task = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_FROM_A_SIGNAL_HANDLER), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and task.poll() is None, "the script never started"
        time.sleep(0.05)
    task.send_signal(signal.SIGTERM)
    out, _ = task.communicate(timeout=60)
    took = float(out.split("kill took ")[1].split()[0])
    assert f"exit {-signal.SIGTERM}" in out
    assert took < KILL_GRACE_SECONDS, out

"""Local runs of a notebook's pipeline: their folder, starting the runner process, finding and stopping it.

A local run keeps its files in `$AIRFLOW_HOME/mlpipe_local_runs/<dag_id>/<run_id>/`:
`spec.pickle` (what the runner needs: the Pipeline, the run's conf and logical date),
`runner.json` (the runner's pid and start time, so that any process can find and stop it, e.g.
after the notebook's kernel restarted), `runner.log` (what the runner logged outside the steps,
and its own errors) and `cancel` (written by `PipelineRun.cancel()`: the runner stops; it also
tells that a run the runner never created was canceled). The steps' logs are Airflow's task log
files (see `local_runner`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

RUNS_FOLDER = "mlpipe_local_runs"
SPEC_FILE = "spec.pickle"
RUNNER_FILE = "runner.json"
RUNNER_LOG = "runner.log"
CANCEL_FILE = "cancel"
RUNNER_MODULE = "airflow_provider_mlpipe.local_runner"
#: How long a cancel waits for the runner to stop its step (on_kill) before killing the runner's tree.
STOP_GRACE_SECONDS = 60.0
#: Between SIGTERM and SIGKILL when the runner's process tree is killed.
KILL_GRACE_SECONDS = 5.0
RUNNER_LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class LocalRunSpec:
    """What the runner process gets: the pipeline and how to run it."""

    pipeline: Any
    dag_id: str
    run_id: str
    conf: dict[str, Any]
    logical_date: datetime
    #: (name, description, version, continue_on_step_failure) for a published pipeline's run.
    publish_args: tuple[Any, ...] | None = None


def run_folder(dag_id: str, run_id: str) -> Path:
    """The folder of one local run under the current AIRFLOW_HOME."""
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME).expanduser() / RUNS_FOLDER / dag_id / run_id


def new_run_id(logical_date: datetime) -> str:
    """The run id `dag.test(logical_date=..., run_after=...)` gives the run (a manual run's)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    return DagRun.generate_run_id(
        run_type=DagRunType.MANUAL, logical_date=logical_date, run_after=logical_date
    )


class LocalRunner:
    """The runner process of one local run: started here, or found again through `runner.json`."""

    def __init__(self, folder: Path, pid: int, create_time: float, process: subprocess.Popen | None = None):
        self.folder = folder
        self.pid = pid
        self.create_time = create_time
        self._process = process

    @classmethod
    def start(cls, spec: LocalRunSpec) -> LocalRunner:
        """Write the run's folder and start `python -m airflow_provider_mlpipe.local_runner <folder>`.

        In a session of its own, so Ctrl-C in the notebook's terminal does not reach it.
        """
        import psutil

        folder = run_folder(spec.dag_id, spec.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            (folder / SPEC_FILE).write_bytes(pickle.dumps(spec))
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise ValueError(f"the pipeline cannot be handed to the local runner: {error}") from error
        with (folder / RUNNER_LOG).open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", RUNNER_MODULE, str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=dict(os.environ),
                start_new_session=True,
            )
        try:
            create_time = psutil.Process(process.pid).create_time()
        except psutil.Error:  # already gone: alive() says so through the Popen
            create_time = 0.0
        (folder / RUNNER_FILE).write_text(json.dumps({"pid": process.pid, "create_time": create_time}))
        return cls(folder, process.pid, create_time, process)

    @classmethod
    def find(cls, dag_id: str, run_id: str) -> LocalRunner | None:
        """The runner of a local run started by any process, or None when it has no runner file."""
        folder = run_folder(dag_id, run_id)
        try:
            record = json.loads((folder / RUNNER_FILE).read_text())
        except (OSError, ValueError):
            return None
        return cls(folder, int(record["pid"]), float(record["create_time"]))

    def alive(self) -> bool:
        """Whether the runner process still runs (a pid reused by another process does not count)."""
        if self._process is not None:
            return self._process.poll() is None
        import psutil

        try:
            process = psutil.Process(self.pid)
            return (
                abs(process.create_time() - self.create_time) < 1 and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the runner to end; True when it has ended."""
        import psutil

        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        if not self.alive():
            return True
        try:
            psutil.Process(self.pid).wait(timeout=timeout)
        except psutil.TimeoutExpired:
            return False
        except psutil.Error:
            pass
        return True

    def kill_tree(self) -> None:
        """SIGTERM the runner and all it started (scripts run in sessions of their own), then SIGKILL."""
        import psutil

        if not self.alive():
            return
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, left = psutil.wait_procs(tree, timeout=KILL_GRACE_SECONDS)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(left, timeout=KILL_GRACE_SECONDS)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=KILL_GRACE_SECONDS)

    def request_cancel(self) -> None:
        """Ask the runner to stop (see `local_runner.CancelWatchdog`)."""
        (self.folder / CANCEL_FILE).touch()

    @property
    def cancel_requested(self) -> bool:
        return (self.folder / CANCEL_FILE).exists()

    def log_tail(self, lines: int = RUNNER_LOG_TAIL_LINES) -> str:
        """The end of `runner.log` (the runner's own errors), for messages."""
        try:
            text = (self.folder / RUNNER_LOG).read_text(errors="replace")
        except OSError:
            return "(no runner log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

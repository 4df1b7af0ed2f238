"""The process running a notebook's pipeline locally: `python -m airflow_provider_mlpipe.local_runner DIR`.

`Experiment(name).submit(pipeline)` starts it (see `local_runs`) and returns at once. It runs the
pipeline's DAG with Airflow's `dag.test()` on the metadata DB of AIRFLOW_HOME, and adds what a
deployment's supervisor would give a task:

* **Live step logs**: every log line goes out as Airflow's JSON; while a step runs, its lines go
  to that task try's own file under `[logging] base_log_folder` (where Airflow's log reader and UI
  look), the rest (Airflow's run loop) to the folder's `runner.log`. A listener on Airflow's
  task-instance hooks switches the file when a step starts and ends.
* **Cancellation**: `PipelineRun.cancel()` writes the folder's `cancel` file. A watchdog thread
  then SIGTERMs this process, whose handler (installed by Airflow's task runner for each step)
  calls the running operator's `on_kill`: the script's process tree is killed, a remote job
  (also one a deferred step waits for) is cancelled, as a supervisor does when its heartbeat
  answers 409. When the step has ended, or at once between steps, the runner exits, so no
  further step starts; the client then marks the run canceled in the DB.

A process of its own, not a thread of the notebook: `dag.test()` installs that SIGTERM handler,
which Python allows only in a main thread; a crash of a step (or of Airflow) cannot take the
notebook with it; and the run, like a remote one, survives a restart of the notebook's kernel.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from airflow.listeners import hookimpl  # Airflow's documented marker for listeners

from airflow_provider_mlpipe.local_runs import CANCEL_FILE, RUNNER_LOG, SPEC_FILE, LocalRunSpec

#: Seconds between two looks of the watchdog for a cancel request.
WATCH_SECONDS = 0.2

log = logging.getLogger("airflow_provider_mlpipe.local_runner")  # also when run as __main__


class StepLogRouter:
    """A binary sink for Airflow's JSON log lines: into the running step's file, else `runner.log`.

    Each `write` is one whole line (structlog and the stdlib handler write a record at once);
    the lock keeps lines of the script's reader threads and the main thread apart.
    """

    def __init__(self, runner_log: Path) -> None:
        self._lock = threading.Lock()
        self._runner: BinaryIO = runner_log.open("ab")
        self._step: BinaryIO | None = None

    def write(self, data: bytes) -> int:
        with self._lock:
            target = self._step or self._runner
            target.write(data)
            target.flush()
        return len(data)

    def flush(self) -> None:
        """Every write is flushed at once, so readers see whole lines as they come."""

    def start_step(self, path: Path) -> None:
        """Send lines to `path` (appended: a step resumed after a deferral keeps its earlier lines)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._step is not None:
                self._step.close()
            self._step = path.open("ab")

    def end_step(self) -> None:
        """Send lines to `runner.log` again."""
        with self._lock:
            if self._step is not None:
                self._step.close()
            self._step = None


class StepWatch:
    """Airflow task-instance listener: which step runs now (for the log router), and the points
    where a canceled run's runner stops: when the running step has ended, or before a step starts."""

    def __init__(self, router: StepLogRouter, logical_date: Any, cancel: threading.Event) -> None:
        self.router = router
        self.logical_date = logical_date
        self.cancel = cancel
        self.current: tuple[str, int] | None = None

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        from airflow_provider_mlpipe.step_logs import task_log_path

        if self.cancel.is_set():
            stop(f"run canceled: step {task_instance.task_id!r} not started")
        ti = task_instance
        path = task_log_path(ti.dag_id, ti.run_id, ti.task_id, ti.try_number, ti.map_index, self.logical_date)
        self.router.start_step(path)
        self.current = (ti.task_id, ti.try_number)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._end(task_instance)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self._end(task_instance)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self._end(task_instance)

    def _end(self, task_instance: Any) -> None:
        self.current = None
        self.router.end_step()
        if self.cancel.is_set():
            stop(f"run canceled: step {task_instance.task_id!r} stopped")


class CancelWatchdog(threading.Thread):
    """Acts on the client's cancel request (the `cancel` file): stops the running step the way a
    supervisor does (one SIGTERM: Airflow's handler calls the operator's `on_kill`; the client
    kills the runner's process tree if it has not ended after a grace period), or stops the
    runner at once between steps.

    One signal, not one every few seconds: a second SIGTERM would run the handler again inside
    the first one while it waits for the script to die, and so on, never letting it finish.
    """

    def __init__(self, request: Path, watch: StepWatch) -> None:
        super().__init__(name="mlpipe-cancel-watchdog", daemon=True)
        self.request = request
        self.watch = watch
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.request.exists():
            if self.stopped.wait(WATCH_SECONDS):
                return
        self.watch.cancel.set()
        current = self.watch.current
        if current is None:
            stop("run canceled between steps")
        log.info("Run canceled: stopping step %r (try %s)", *current)
        os.kill(os.getpid(), signal.SIGTERM)


def stop(reason: str) -> NoReturn:
    """End the runner now. The client, waiting for that, then marks the run canceled in the DB:
    the runner's `dag.test()` holds stale ORM objects that would write over any change made by
    another process while it runs, so the DB is changed only once the runner is gone."""
    log.info("Runner stopped: %s", reason)
    os._exit(0)


def configure_logging(router: StepLogRouter) -> None:
    """All of this process's logging (structlog and stdlib) as Airflow's JSON lines into `router`."""
    from airflow.sdk.log import configure_logging as airflow_configure_logging

    airflow_configure_logging(json_output=True, output=router, cache_logger_on_first_use=False)


def run(folder: Path) -> int:
    """Run the pipeline described in `folder`; returns the process exit code."""
    from airflow.sdk.listener import get_listener_manager

    router = StepLogRouter(folder / RUNNER_LOG)
    configure_logging(router)
    spec: LocalRunSpec = pickle.loads((folder / SPEC_FILE).read_bytes())
    watch = StepWatch(router, spec.logical_date, threading.Event())
    get_listener_manager().add_listener(watch)
    watchdog = CancelWatchdog(folder / CANCEL_FILE, watch)
    watchdog.start()
    try:
        if spec.publish_args is None:
            dag = spec.pipeline.to_dag(spec.dag_id)
        else:
            dag = spec.pipeline.publish(*spec.publish_args).dag
        dag_run = dag.test(logical_date=spec.logical_date, run_after=spec.logical_date, run_conf=spec.conf)
    finally:
        watchdog.stopped.set()
    if dag_run.run_id != spec.run_id:  # dag.test() names the run; the client told the user another name
        raise RuntimeError(f"dag.test() created run {dag_run.run_id!r}, expected {spec.run_id!r}")
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))

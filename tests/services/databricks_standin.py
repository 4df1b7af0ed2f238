"""A local stand-in of the Databricks Jobs API 2.2 (2.1 paths too) for tests that drive the REAL databricks-sdk.

Serves runs/submit, runs/get, runs/cancel and runs/get-output over HTTP on 127.0.0.1 (see
/work/shared/reference/service-contracts.md). What a run does depends on the submitted task:

* ``spark_python_task``: the file really runs here (``sys.executable file *parameters``, cwd a temp
  dir, environment inherited). ``file:/abs``, ``dbfs:/x`` (under ``dbfs_root``) and plain absolute
  paths are understood. Exit 0 -> SUCCESS; otherwise FAILED, the last stderr line is the error.
* ``notebook_task``: ``base_parameters`` ``{"outcome": "fail"}`` -> FAILED, ``{"outcome": "hang"}`` ->
  RUNNING until cancelled, else SUCCESS with ``notebook_output.result`` = JSON of base_parameters.
* anything else (``spark_jar_task``, ...): SUCCESS, nothing runs.
* ``"--hang"`` in a task's ``parameters`` list: RUNNING until cancelled or timed out (a python file still runs).

Lifecycle: PENDING -> RUNNING on the next runs/get (or after ``start_delay`` s) -> TERMINATED when
the process exits or, for simulated tasks, on the next runs/get (or after ``simulated_seconds`` s).
runs/cancel kills the process at once; the next runs/get still says TERMINATING, the one after (or
any after 0.3 s) TERMINATED/CANCELED. ``timeout_seconds`` (task or submit) exceeded while RUNNING ->
TERMINATED/TIMEDOUT. The tasks of one submit run side by side (``depends_on`` is ignored). Every
call but the unauthenticated ``/.well-known/databricks-config`` probe (always 404) needs
``Authorization: Bearer <token>``; a task run id works for runs/get-output (a parent run id is
refused, as Databricks does), runs/get and runs/cancel. ``GET /api/2.0/preview/scim/v2/Me`` (what
``current_user.me()`` calls) answers the token's owner, ``user_name``.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

DEFAULT_TOKEN = "dapi-test-token"
DEFAULT_USER = "standin-user@example.com"
SCIM_ME = "/api/2.0/preview/scim/v2/Me"
TERMINATING_SECONDS = 0.3
_ROUTE = re.compile(r"^/api/2\.[12]/jobs/runs/(submit|get|cancel|get-output)$")
_TAIL_BYTES = 64 * 1024


class ApiError(Exception):
    """Answered as HTTP ``status`` with ``{"error_code", "message"}``, as Databricks does."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


@dataclass
class TaskRun:
    """One task of a submitted run; ``run_id`` is its own task run id (what runs/get-output wants)."""

    run_id: int
    spec: dict[str, Any]
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    start_time: int = 0
    end_time: int = 0
    started: float = 0.0  # time.monotonic() when RUNNING began
    terminating_since: float = 0.0
    polls: int = 0  # runs/get calls seen since the task entered its current state
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    error: str | None = None
    error_trace: str | None = None
    logs: str | None = None

    @property
    def kind(self) -> str:
        return next((key for key in self.spec if key.endswith("_task")), "")

    @property
    def parameters(self) -> list[Any]:
        params = (self.spec.get(self.kind) or {}).get("parameters")
        return params if isinstance(params, list) else []

    @property
    def base_parameters(self) -> dict[str, Any]:
        return (self.spec.get("notebook_task") or {}).get("base_parameters") or {}

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "life_cycle_state": self.life_cycle_state,
            "state_message": self.state_message,
        }
        if self.life_cycle_state == "TERMINATED":
            state["result_state"] = self.result_state
        return state


@dataclass
class RunRecord:
    """A submitted run: ``spec`` is the runs/submit body, ``state`` the API's state object."""

    run_id: int
    spec: dict[str, Any]
    tasks: list[TaskRun]
    created: float = field(default_factory=time.monotonic)
    start_time: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def state(self) -> dict[str, Any]:
        states = {task.life_cycle_state for task in self.tasks}
        if states == {"TERMINATED"}:
            results = [task.result_state for task in self.tasks]
            result = next((r for r in ("CANCELED", "TIMEDOUT", "FAILED") if r in results), "SUCCESS")
            message = next((t.state_message for t in self.tasks if t.result_state == result), "")
            return {"life_cycle_state": "TERMINATED", "result_state": result, "state_message": message}
        if states == {"PENDING"}:
            return {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"}
        return {
            "life_cycle_state": "TERMINATING" if "TERMINATING" in states else "RUNNING",
            "state_message": "",
        }


class DatabricksStandIn:
    """The stand-in server: ``start()`` it (or use ``with``), point the SDK at ``url`` with ``token``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        dbfs_root: str | Path | None = None,
        *,
        start_delay: float = 0.5,
        simulated_seconds: float = 2.0,
    ) -> None:
        self.token = token
        self.user_name = DEFAULT_USER
        self._own_dbfs = dbfs_root is None
        self.dbfs_root = Path(tempfile.mkdtemp(prefix="standin-dbfs-") if dbfs_root is None else dbfs_root)
        self.dbfs_root.mkdir(parents=True, exist_ok=True)
        self.start_delay, self.simulated_seconds = start_delay, simulated_seconds
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, json body or query dict)
        self._dbfs_handles: dict[int, Path] = {}  # open DBFS upload handles
        self.runs: dict[int, RunRecord] = {}
        self._task_runs: dict[int, tuple[RunRecord, TaskRun]] = {}
        self._by_token: dict[str, int] = {}
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DatabricksStandIn:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # quick shutdown()
        for name, target in (("serve", serve), ("tick", self._tick)):
            thread = threading.Thread(target=target, daemon=True, name=f"databricks-standin-{name}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving, kill every process still running, remove the runs' working folders."""
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            for _, task in self._task_runs.values():
                _kill(task)
                if task.workdir:
                    shutil.rmtree(task.workdir, ignore_errors=True)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._own_dbfs:
            shutil.rmtree(self.dbfs_root, ignore_errors=True)

    def __enter__(self) -> DatabricksStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def workspace_client(self, **config: Any) -> Any:
        """A real databricks-sdk ``WorkspaceClient`` for this stand-in (PAT auth, short retry budget)."""
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        options = {
            "host": self.url,
            "token": self.token,
            "auth_type": "pat",
            "retry_timeout_seconds": 10,
            "http_timeout_seconds": 5,
            **config,
        }
        return WorkspaceClient(config=Config(**options))

    def wait_until_state(self, run_id: int, life_cycle_state: str, timeout: float = 10.0) -> RunRecord:
        """Wait (without counting as a runs/get poll) until run ``run_id`` is in ``life_cycle_state``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                run = self.runs[run_id]
                self._advance(run)
                state = run.state
            if state["life_cycle_state"] == life_cycle_state:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {state} after {timeout} s")
            time.sleep(0.02)

    # --- HTTP -------------------------------------------------------------------------------------
    def _dispatch(self, method: str, path: str, query: dict[str, str], raw: bytes, auth: str | None) -> Any:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self.requests.append((method, path, body if method == "POST" else query))
        if path == "/.well-known/databricks-config":
            raise ApiError(404, "NOT_FOUND", "The stand-in publishes no host metadata")
        if auth != f"Bearer {self.token}":
            raise ApiError(
                401, "UNAUTHENTICATED", "Invalid access token." if auth else "Missing access token."
            )
        if not isinstance(body, dict):
            raise ApiError(400, "MALFORMED_REQUEST", "The request body is not a JSON object")
        if (method, path) == ("GET", SCIM_ME):
            return {
                "id": "4242424242424242",
                "userName": self.user_name,
                "displayName": "Stand-in User",
                "active": True,
                "emails": [{"value": self.user_name, "type": "work", "primary": True}],
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            }
        if method == "POST" and path.startswith("/api/2.0/dbfs/"):
            with self._lock:
                return self._dbfs(path.removeprefix("/api/2.0/dbfs/"), body)
        match = _ROUTE.match(path)
        endpoint = (method, match.group(1)) if match else None
        with self._lock:
            if endpoint == ("POST", "submit"):
                return self._submit(body)
            if endpoint == ("POST", "cancel"):
                run, _ = self._find(body.get("run_id"))
                self._cancel(run)
                return {}
            if endpoint in (("GET", "get"), ("GET", "get-output")):
                run, task = self._find(query.get("run_id"))
                self._advance(run, polled=endpoint[1] == "get")
                if endpoint[1] == "get":
                    return self._run_json(run) if task is None else self._task_json(run, task)
                if task is None:
                    raise ApiError(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "Retrieving the output of runs with multiple tasks is not supported. "
                        "Please retrieve the output of each individual task run instead.",
                    )
                return self._output_json(run, task)
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")

    def _dbfs(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """DBFS streaming upload (create, add-block, close) into `dbfs_root`, as the SDK calls it."""
        if action == "create":
            target = self.dbfs_root / str(body.get("path", "")).lstrip("/")
            if target.exists() and not body.get("overwrite"):
                raise ApiError(
                    400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at {body['path']}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")
            self._dbfs_handles[len(self._dbfs_handles) + 1] = target
            return {"handle": len(self._dbfs_handles)}
        target = self._dbfs_handles.get(int(body.get("handle", 0)))
        if target is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Unknown DBFS handle {body.get('handle')}")
        if action == "add-block":
            with target.open("ab") as handle:
                handle.write(base64.b64decode(body.get("data", "")))
            return {}
        if action == "close":
            return {}
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No DBFS API {action!r} in the stand-in")

    def _find(self, run_id: Any) -> tuple[RunRecord, TaskRun | None]:
        try:
            key = int(run_id)
        except (TypeError, ValueError):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Invalid run_id: {run_id!r}") from None
        if key in self.runs:
            return self.runs[key], None
        if key in self._task_runs:
            return self._task_runs[key]
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {key} does not exist.")

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        tasks = body.get("tasks")
        if (
            not tasks
            or not isinstance(tasks, list)
            or not all(isinstance(t, dict) and t.get("task_key") for t in tasks)
        ):
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", "A run needs a non-empty `tasks` list, each with a `task_key`"
            )
        token = body.get("idempotency_token")
        if token and token in self._by_token:
            return {"run_id": self._by_token[token]}
        run = RunRecord(next(self._ids), body, [])
        run.tasks = [TaskRun(next(self._ids), task) for task in tasks]
        self.runs[run.run_id] = run
        self._task_runs.update((task.run_id, (run, task)) for task in run.tasks)
        if token:
            self._by_token[token] = run.run_id
        return {"run_id": run.run_id}

    def _run_json(self, run: RunRecord) -> dict[str, Any]:
        ended = run.state["life_cycle_state"] == "TERMINATED"
        return {
            "run_id": run.run_id,
            "run_name": run.spec.get("run_name", "Untitled"),
            "run_type": "SUBMIT_RUN",
            "state": run.state,
            "run_page_url": f"{self.url}/#job/runs/{run.run_id}",
            "attempt_number": 0,
            "start_time": run.start_time,
            "end_time": max(t.end_time for t in run.tasks) if ended else 0,
            "creator_user_name": "standin@example.com",
            "tasks": [self._task_json(run, t) for t in run.tasks],
        }

    def _task_json(self, run: RunRecord, task: TaskRun) -> dict[str, Any]:
        return {
            **task.spec,
            "run_id": task.run_id,
            "run_name": run.spec.get("run_name", "Untitled"),
            "state": task.state,
            "run_page_url": f"{self.url}/#job/runs/{task.run_id}",
            "attempt_number": 0,
            "start_time": task.start_time or run.start_time,
            "end_time": task.end_time,
        }

    def _output_json(self, run: RunRecord, task: TaskRun) -> dict[str, Any]:
        output: dict[str, Any] = {"metadata": self._task_json(run, task)}
        if task.result_state == "FAILED":
            output.update(error=task.error, error_trace=task.error_trace)
        if task.kind == "notebook_task" and task.result_state == "SUCCESS":
            output["notebook_output"] = {"result": json.dumps(task.base_parameters), "truncated": False}
        if task.logs is not None:
            output.update(logs=task.logs, logs_truncated=False)
        return output

    # --- lifecycle (always under self._lock) --------------------------------------------------------
    def _tick(self) -> None:
        while not self._stopped.wait(0.05):
            with self._lock:
                for run in list(self.runs.values()):
                    self._advance(run)

    def _advance(self, run: RunRecord, polled: bool = False) -> None:
        now = time.monotonic()
        for task in run.tasks:
            task.polls += polled
            if task.life_cycle_state == "PENDING" and (polled or now - run.created >= self.start_delay):
                self._start(task)
            elif task.life_cycle_state == "RUNNING":
                self._check_running(run, task, now)
            elif task.life_cycle_state == "TERMINATING" and (
                task.polls >= 2 or now - task.terminating_since >= TERMINATING_SECONDS
            ):
                self._finish(task, "CANCELED", message="Run cancelled.")

    def _start(self, task: TaskRun) -> None:
        task.life_cycle_state, task.polls = "RUNNING", 0
        task.started, task.start_time = time.monotonic(), int(time.time() * 1000)
        if task.kind != "spark_python_task":
            return
        python_file = str(task.spec["spark_python_task"].get("python_file", ""))
        local = (
            Path(python_file.removeprefix("file:"))
            if not python_file.startswith("dbfs:")
            else self.dbfs_root / python_file.removeprefix("dbfs:").lstrip("/")
        )
        if not local.is_absolute() or not local.is_file():
            message = f"Cannot read the python file {python_file}. Please check driver logs for more details."
            return self._finish(task, "FAILED", error=message, trace=message)
        task.workdir = Path(tempfile.mkdtemp(prefix=f"standin-run-{task.run_id}-"))
        with open(task.workdir / "stdout", "wb") as out, open(task.workdir / "stderr", "wb") as err:
            task.process = subprocess.Popen(
                [sys.executable, str(local), *map(str, task.parameters)],
                cwd=task.workdir,
                env=dict(os.environ),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def _check_running(self, run: RunRecord, task: TaskRun, now: float) -> None:
        timeout = task.spec.get("timeout_seconds") or run.spec.get("timeout_seconds")
        if timeout and now - task.started >= float(timeout):
            _kill(task)
            return self._finish(task, "TIMEDOUT", message=f"Run timed out after {timeout} seconds.")
        if "--hang" in task.parameters or task.base_parameters.get("outcome") == "hang":
            return
        if task.process is not None:
            code = task.process.poll()
            if code is None:
                return
            assert task.workdir is not None
            task.logs = _tail(task.workdir / "stdout")
            stderr = _tail(task.workdir / "stderr")
            last = next(
                (line.strip() for line in reversed(stderr.splitlines()) if line.strip()), f"exit code {code}"
            )
            if code == 0:
                return self._finish(task, "SUCCESS")
            return self._finish(task, "FAILED", error=last, trace=stderr)
        if task.polls >= 1 or now - task.started >= self.simulated_seconds:
            if task.base_parameters.get("outcome") == "fail":
                error = "Notebook failed: requested by test"
                return self._finish(task, "FAILED", error=error, trace=f"Exception: {error}")
            self._finish(task, "SUCCESS")

    def _finish(
        self,
        task: TaskRun,
        result: str,
        *,
        error: str | None = None,
        trace: str | None = None,
        message: str = "",
    ) -> None:
        task.life_cycle_state, task.result_state = "TERMINATED", result
        task.end_time = int(time.time() * 1000)
        task.error, task.error_trace = error, trace
        task.state_message = f"Run failed with error message\n {error}" if error else message

    def _cancel(self, run: RunRecord) -> None:
        for task in run.tasks:
            if task.life_cycle_state in ("PENDING", "RUNNING"):
                _kill(task)
                task.life_cycle_state, task.terminating_since, task.polls = "TERMINATING", time.monotonic(), 0
                task.state_message = "Run cancellation requested."


def _kill(task: TaskRun) -> None:
    """Kill the task's process and its children (own session), and reap it."""
    if task.process is not None and task.process.poll() is None:
        try:
            os.killpg(task.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        task.process.wait(timeout=5)


def _tail(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
        return handle.read().decode("utf-8", errors="replace")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: DatabricksStandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query, auth = dict(parse_qsl(url.query)), self.headers.get("Authorization")
        try:
            status, payload = 200, self.server.standin._dispatch(method, url.path, query, raw, auth)
        except ApiError as exc:
            status, payload = exc.status, {"error_code": exc.error_code, "message": exc.message}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log is `requests`
        pass


@pytest.fixture
def databricks_standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DatabricksStandIn]:
    """A started stand-in (DBFS under tmp_path/dbfs); DATABRICKS_* env vars are cleared for the test."""
    for key in [key for key in os.environ if key.startswith("DATABRICKS_")]:
        monkeypatch.delenv(key)
    with DatabricksStandIn(dbfs_root=tmp_path / "dbfs") as standin:
        yield standin


@pytest.fixture
def databricks_default(
    databricks_standin: DatabricksStandIn, monkeypatch: pytest.MonkeyPatch
) -> DatabricksStandIn:
    """The stand-in as the `databricks_default` connection, polled every 0.2 s."""
    connection = {
        "conn_type": "databricks",
        "host": databricks_standin.url,
        "password": databricks_standin.token,
    }
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__MLPIPE__DATABRICKS_POLL_SECONDS", "0.2")
    return databricks_standin

"""A local stand-in of the Azure Data Lake Analytics job REST API (api-version 2017-09-01-preview).

The REAL ``azure.mgmt.datalake.analytics.job.DataLakeAnalyticsJobManagementClient`` talks to it once
``client.config.base_url = f"{standin.url}/{{accountName}}"`` (see /work/shared/reference/service-contracts.md):

* ``PUT /{account}/jobs/{jobId}`` (CreateJobParameters JSON, ``type: "USql"``) -> 200 with the job JSON,
  state ``Accepted``, result ``None``. The same ``jobId`` again -> 409 ``JobAlreadyExists``.
* ``GET /{account}/jobs/{jobId}`` -> the job JSON. Each GET advances the job ``steps_per_poll`` steps
  along Accepted -> Compiling -> Queued -> Scheduling -> Starting -> Running -> Ended (and, when
  ``step_seconds`` is set, one step per ``step_seconds`` elapsed as well). Unknown job -> 404 ``JobNotFound``.
* ``POST /{account}/jobs/{jobId}/CancelJob`` -> 200; the next GET says Ended/Cancelled (no-op once Ended).
* ``GET /{account}/jobs?$top=n&$skip=k`` (Job_List) -> ``{"value": [JobInformationBasic, ...]}``, newest
  first, no ``properties``/``errorMessage`` (as the real listing). ``$top``/``$skip`` must be integers
  >= 1 (400 ``InvalidQueryParameterValue``); there is no server-driven paging (never a ``nextLink``),
  and the OData ``$filter``/``$select``/``$orderby``/``$count`` are refused (400) rather than ignored.

The outcome is chosen by the script text: ``@FAIL`` anywhere -> Ended/Failed with one
``E_CSC_USER_SYNTAXERROR`` entry in ``errorMessage`` (``lineNumber`` 3); ``@HANG`` -> Running until
cancelled; otherwise Succeeded. Lines ``// @COPY <src> -> <dst>`` (absolute local paths, file or folder)
are copied when the job reaches Ended/Succeeded, parent folders created; a missing source turns the
job Ended/Failed with ``E_STORE_USER_FILENOTFOUND``. Every call needs ``Authorization: Bearer <token>``
(else 401 ``AuthenticationFailed``) and ``api-version``; errors are ``{"error": {"code", "message"}}``
with an ``x-ms-request-id`` header, which msrestazure turns into ``CloudError``.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

DEFAULT_TOKEN = "adla-test-token"
API_VERSION = "2017-09-01-preview"
STATES = ("Accepted", "Compiling", "Queued", "Scheduling", "Starting", "Running", "Ended")
_ROUTE = re.compile(r"^/(?P<account>[^/]+)/jobs/(?P<job>[^/]+)(?P<cancel>/CancelJob)?$")
_LIST_ROUTE = re.compile(r"^/(?P<account>[^/]+)/jobs$")
#: Keys of a job in Job_List (JobInformationBasic): the full job JSON without these.
_NOT_IN_LISTING = ("properties", "errorMessage")
_COPY = re.compile(r"^\s*//\s*@COPY\s+(?P<src>.+?)\s+->\s+(?P<dst>.+?)\s*$", re.MULTILINE)


class ApiError(Exception):
    """Answered as HTTP ``status`` with ``{"error": {"code", "message"}}``, as ADLA does."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _error(error_id: str, message: str, line: int = 0, resolution: str = "") -> dict[str, Any]:
    return {
        "errorId": error_id,
        "severity": "Error",
        "source": "USER",
        "message": message,
        "description": message,
        "details": f"at line {line}: {message}" if line else message,
        "lineNumber": line,
        "resolution": resolution,
    }


@dataclass
class JobRecord:
    """A submitted job: ``body`` is the PUT body; ``state``/``result`` are what GET reports."""

    job_id: str
    body: dict[str, Any]
    state: str = "Accepted"
    result: str = "None"
    submit_time: str = field(default_factory=_now)
    start_time: str | None = None
    end_time: str | None = None
    cancel_requested: bool = False
    error_message: list[dict[str, Any]] = field(default_factory=list)
    last_step: float = field(default_factory=time.monotonic)

    @property
    def script(self) -> str:
        return str((self.body.get("properties") or {}).get("script") or "")

    @property
    def copies(self) -> list[tuple[str, str]]:
        """The ``// @COPY src -> dst`` pairs of the script, in order."""
        return [(m["src"], m["dst"]) for m in _COPY.finditer(self.script)]


class AdlaStandIn:
    """The stand-in server: ``start()`` it (or use ``with``); point the client's base_url at ``url``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        account: str = "testadla",
        *,
        steps_per_poll: int = 1,
        step_seconds: float | None = None,
    ) -> None:
        self.token, self.account = token, account
        self.steps_per_poll, self.step_seconds = steps_per_poll, step_seconds
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, json body or query dict)
        self.jobs: dict[str, JobRecord] = {}
        self._changed = threading.Condition(threading.RLock())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> AdlaStandIn:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # quick shutdown()
        self._thread = threading.Thread(target=serve, daemon=True, name="adla-standin")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AdlaStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_until(self, job_id: str | None, state: str, timeout: float = 10.0) -> JobRecord:
        """Wait until job ``job_id`` (None: the latest submitted job) has ``state`` (e.g. "Running").

        Jobs advance on GET polls (someone else must poll) or, with ``step_seconds``, with time.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                job = self.jobs.get(job_id) if job_id else next(reversed(self.jobs.values()), None)
                if job is not None:
                    self._advance(job, polled=False)
                    if job.state == state:
                        return job
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {job_id} is {job and job.state} after {timeout} s, not {state}")
                self._changed.wait(min(left, 0.05))

    # --- HTTP -------------------------------------------------------------------------------------
    def _dispatch(self, method: str, path: str, query: dict[str, str], raw: bytes, auth: str | None) -> Any:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append((method, path, body if method == "PUT" else query))
        if auth != f"Bearer {self.token}":
            raise ApiError(401, "AuthenticationFailed", "Authentication failed: missing or invalid token.")
        listing = _LIST_ROUTE.match(path) if method == "GET" else None
        match = listing or _ROUTE.match(path)
        if match is None or (
            not listing and method not in (("POST",) if match["cancel"] else ("GET", "PUT"))
        ):
            raise ApiError(404, "NotFound", f"No route for {method} {path} in the ADLA stand-in")
        if match["account"] != self.account:
            raise ApiError(404, "AccountNotFound", f"Account {match['account']!r} not found.")
        if query.get("api-version") != API_VERSION:
            raise ApiError(400, "InvalidApiVersionParameter", f"api-version must be {API_VERSION}")
        with self._changed:
            try:
                if listing:
                    return self._list(query)
                job_id = unquote(match["job"])
                if method == "PUT":
                    return self._create(job_id, body)
                job = self.jobs.get(job_id)
                if job is None:
                    raise ApiError(404, "JobNotFound", f"Job {job_id} was not found.")
                if method == "POST":
                    job.cancel_requested = job.state != "Ended"
                    return None
                self._advance(job, polled=True)
                return self._job_json(job)
            finally:
                self._changed.notify_all()

    def _create(self, job_id: str, body: Any) -> dict[str, Any]:
        if job_id in self.jobs:
            raise ApiError(409, "JobAlreadyExists", f"A job with id {job_id} already exists.")
        props = body.get("properties") if isinstance(body, dict) else None
        if (
            not isinstance(props, dict)
            or body.get("type") != "USql"
            or props.get("type") != "USql"
            or not body.get("name")
            or not isinstance(props.get("script"), str)
        ):
            raise ApiError(400, "InvalidRequestContent", "Expected a USql CreateJobParameters body.")
        self.jobs[job_id] = job = JobRecord(job_id, body)
        return self._job_json(job)

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        unsupported = sorted(set(query) - {"api-version", "$top", "$skip"})
        if unsupported:
            raise ApiError(400, "InvalidQueryParameter", f"The stand-in does not implement {unsupported}.")
        bounds = {}
        for name in ("$top", "$skip"):
            if name in query:
                text = query[name]
                if not text.isdigit() or int(text) < 1:
                    raise ApiError(
                        400, "InvalidQueryParameterValue", f"{name} must be an integer >= 1, not {text!r}."
                    )
                bounds[name] = int(text)
        jobs = list(reversed(self.jobs.values()))[bounds.get("$skip", 0) :]
        jobs = jobs[: bounds.get("$top", len(jobs))]
        for job in jobs:
            self._advance(job, polled=False)
        listed = [self._job_json(job) for job in jobs]
        return {"value": [{k: v for k, v in j.items() if k not in _NOT_IN_LISTING} for j in listed]}

    def _job_json(self, job: JobRecord) -> dict[str, Any]:
        props = job.body["properties"]
        data: dict[str, Any] = {
            "jobId": job.job_id,
            "name": job.body["name"],
            "type": "USql",
            "submitter": "standin@example.com",
            "degreeOfParallelism": job.body.get("degreeOfParallelism", 1),
            "priority": job.body.get("priority", 1000),
            "submitTime": job.submit_time,
            "state": job.state,
            "result": job.result,
            "properties": {
                "type": "USql",
                "script": props["script"],
                "runtimeVersion": props.get("runtimeVersion") or "default",
            },
        }
        for key, value in (("startTime", job.start_time), ("endTime", job.end_time)):
            if value:
                data[key] = value
        if job.error_message:
            data["errorMessage"] = job.error_message
        return data

    # --- lifecycle (always under self._changed) -----------------------------------------------------
    def _advance(self, job: JobRecord, polled: bool) -> None:
        if job.state == "Ended":
            return
        if job.cancel_requested:
            return self._end(job, "Cancelled")
        steps = self.steps_per_poll if polled else 0
        if self.step_seconds:
            steps = max(steps, int((time.monotonic() - job.last_step) / self.step_seconds))
        for _ in range(steps):
            if job.state == "Running" and "@HANG" in job.script:
                return
            job.state, job.last_step = STATES[STATES.index(job.state) + 1], time.monotonic()
            if job.state == "Starting":
                job.start_time = _now()
            if job.state == "Ended":
                return self._finish(job)

    def _finish(self, job: JobRecord) -> None:
        if "@FAIL" in job.script:
            message = "syntax error. Expected one of: ';' 'USING' 'WITH' "
            job.error_message = [_error("E_CSC_USER_SYNTAXERROR", message, 3, "Correct the script")]
            return self._end(job, "Failed")
        for src, dst in job.copies:
            source, target = Path(src), Path(dst)
            if not source.exists():
                message = f"Input file or folder not found: {src}"
                job.error_message = [_error("E_STORE_USER_FILENOTFOUND", message, 0, "Check the path")]
                return self._end(job, "Failed")
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, target)
        self._end(job, "Succeeded")

    def _end(self, job: JobRecord, result: str) -> None:
        job.state, job.result, job.end_time = "Ended", result, _now()
        job.start_time = job.start_time or job.end_time


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: AdlaStandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query, auth = dict(parse_qsl(url.query)), self.headers.get("Authorization")
        try:
            status, payload = 200, self.server.standin._dispatch(method, url.path, query, raw, auth)
        except ApiError as exc:
            status, payload = exc.status, {"error": {"code": exc.code, "message": exc.message}}
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the request log is `requests`
        pass


@pytest.fixture
def adla_standin() -> Iterator[AdlaStandIn]:
    """A started stand-in (token ``adla-test-token``, account ``testadla``), stopped after the test."""
    with AdlaStandIn() as standin:
        yield standin


@pytest.fixture
def adla_default(adla_standin: AdlaStandIn, monkeypatch: pytest.MonkeyPatch) -> AdlaStandIn:
    """The stand-in as the `adla_default` connection (a pre-issued token), polled every 0.1 s."""
    connection = {
        "conn_type": "mlpipe_adla",
        "host": adla_standin.account,
        "extra": {"base_url": adla_standin.url, "access_token": adla_standin.token},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ADLA_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__MLPIPE__ADLA_POLL_SECONDS", "0.1")
    return adla_standin

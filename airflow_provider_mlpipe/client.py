"""v1's notebook / CI API (`Workspace`, `PublishedPipeline`, `Experiment`, `PipelineRun`) over Airflow.

Remote: a `Workspace` is an Airflow API server; published pipelines are listed, submitted,
enabled and disabled through our `/mlpipe` REST API, and step logs come from Airflow's public
API (`/api/v2/.../logs/{try_number}`)::

    ws = Workspace.from_env()  # MLPIPE_AIRFLOW_URL + MLPIPE_AIRFLOW_TOKEN or _USERNAME/_PASSWORD
    published = PublishedPipeline.get(ws, name="train")
    run = published.submit(ws, "nightly", pipeline_parameters={"pipeline_arg": 20})
    run.wait_for_completion(show_output=True)
    run.find_step_run("train")[0].get_output_data("model").download("./model")

Local: `Experiment("try").submit(Pipeline([...]))` runs a pipeline built in a notebook with
Airflow's `dag.test()` on the Airflow metadata DB of the current AIRFLOW_HOME (migrated first
when it is not initialised yet), in a runner process of its own (`local_runner`), and returns
the run at once, as a remote submit does. `wait_for_completion(show_output=True)` prints each
step's lines as they are written (both kinds of run), `cancel()` stops a run (both kinds).

Downloading outputs (`PortDataReference.download`) reads the datastore from *this* machine:
the client needs the datastore's Airflow connection (e.g. `AIRFLOW_CONN_<NAME>` in the
environment), or, for the embedded default datastore `mlpipe_default`, the same folder as the
deployment (`AIRFLOW__MLPIPE__EMBEDDED_ROOT`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.contract import METRICS_XCOM_KEY, REGENERATE_OUTPUTS, RUN_RECORD_KEY

if TYPE_CHECKING:
    import httpx

    from airflow_provider_mlpipe.authoring.pipeline import Pipeline
    from airflow_provider_mlpipe.local_runs import LocalRunner
    from airflow_provider_mlpipe.run_logs import LogSource

#: v1 statuses a run or step does not leave.
TERMINAL_STATUSES = frozenset({"Finished", "Failed", "Canceled"})
DEFAULT_TIMEOUT = 30.0
#: A read (GET) that meets a dropped connection, a timeout or 502/503/504 is tried again for up to
#: this many seconds (an api-server restarting, a proxy's hiccup), so a long `wait_for_completion`
#: survives it; a state change (submit, enable, cancel...) is never sent twice.
TRANSIENT_RETRY_SECONDS = 60.0
TRANSIENT_STATUSES = frozenset({502, 503, 504})


class PipelineRunError(ValueError):
    """A run ended Failed, or the API refused a request (`status_code` and the server's `detail`)."""

    def __init__(self, message: str, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail if detail is not None else message


class ApiError(PipelineRunError):
    """The Airflow API server answered 4xx/5xx; `status_code` and `detail` are the server's."""


# --------------------------------------------------------------------------- workspace


class Workspace:
    """Where the Airflow API server is, and how to authenticate to it.

    With no `token`, one is fetched from `POST {url}/auth/token` with `username`/`password`
    (and fetched again when it expires).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not url:
            raise ValueError("Workspace: url of the Airflow API server is required")
        if token is None and username is None:
            raise ValueError("Workspace: give a token, or a username and password")
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self._token = token
        self.timeout = timeout
        self._http: httpx.Client | None = None

    @classmethod
    def from_env(cls) -> Workspace:
        """From MLPIPE_AIRFLOW_URL and MLPIPE_AIRFLOW_TOKEN, or MLPIPE_AIRFLOW_USERNAME/_PASSWORD."""
        url = os.environ.get("MLPIPE_AIRFLOW_URL")
        if not url:
            raise ValueError("Workspace.from_env: MLPIPE_AIRFLOW_URL is not set")
        return cls(
            url,
            token=os.environ.get("MLPIPE_AIRFLOW_TOKEN") or None,
            username=os.environ.get("MLPIPE_AIRFLOW_USERNAME") or None,
            password=os.environ.get("MLPIPE_AIRFLOW_PASSWORD"),
        )

    def _client(self) -> httpx.Client:
        import httpx

        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=self.timeout)
        return self._http

    def get_token(self, refresh: bool = False) -> str:
        """The bearer token (a JWT from `/auth/token` when username/password were given)."""
        if self._token is None or (refresh and self.username is not None):
            response = self._client().post(
                "/auth/token", json={"username": self.username, "password": self._password or ""}
            )
            if response.status_code not in (200, 201):
                raise ApiError(
                    f"POST {self.url}/auth/token as {self.username!r}: {response.status_code} "
                    f"{_detail(response)}",
                    response.status_code,
                    _detail(response),
                )
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated request; raises `ApiError` for any 4xx/5xx answer.

        A GET is tried again on a transient failure for up to TRANSIENT_RETRY_SECONDS.
        """
        import httpx

        deadline = time.monotonic() + (TRANSIENT_RETRY_SECONDS if method.upper() == "GET" else 0)
        pause = 0.5
        while True:
            try:
                response = self._authenticated(method, path, **kwargs)
            except httpx.TransportError:
                if time.monotonic() + pause > deadline:
                    raise
            else:
                if response.status_code not in TRANSIENT_STATUSES or time.monotonic() + pause > deadline:
                    break
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
        if response.status_code >= 400:
            detail = _detail(response)
            raise ApiError(f"{method} {path}: {response.status_code} {detail}", response.status_code, detail)
        return response

    def _authenticated(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with the bearer token; once more with a fresh token after a 401."""
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self.get_token(refresh=attempt > 0)}"
            response = self._client().request(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or self.username is None:
                break
        return response

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __repr__(self) -> str:
        return f"Workspace({self.url!r})"


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:1000]
    return body.get("detail", body) if isinstance(body, dict) else body


# --------------------------------------------------------------------------- published pipelines


class PublishedPipeline:
    """A published pipeline (a DAG made by `Pipeline.publish`), as `/mlpipe/pipelines` lists it."""

    def __init__(self, workspace: Workspace, record: dict[str, Any]) -> None:
        self.workspace = workspace
        self._update(record)

    def _update(self, record: dict[str, Any]) -> None:
        self.id: str = record["Id"]
        self.name: str = record["Name"]
        self.description: str | None = record.get("Description")
        self.version: str | None = record.get("Version")
        self.status: str = record.get("Status", "Active")
        self.endpoint: str | None = record.get("Endpoint")

    @classmethod
    def list(cls, workspace: Workspace, active_only: bool = True) -> list[PublishedPipeline]:
        """Published pipelines the user may see; only Active ones unless `active_only=False`."""
        answer = workspace.request("GET", "/mlpipe/pipelines", params={"active_only": active_only}).json()
        return [cls(workspace, record) for record in answer["Pipelines"]]

    @classmethod
    def get(cls, workspace: Workspace, id: str | None = None, name: str | None = None) -> PublishedPipeline:  # noqa: A002
        """The published pipeline `id` (v1) or `name` (the same thing here: the DAG id)."""
        wanted = id or name
        if not wanted:
            raise ValueError("PublishedPipeline.get: give id or name")
        for pipeline in cls.list(workspace, active_only=False):
            if wanted in (pipeline.id, pipeline.name):
                return pipeline
        raise ApiError(f"no published pipeline {wanted!r} in {workspace.url}", 404, "not found")

    def submit(
        self,
        workspace: Workspace | str | None = None,
        experiment_name: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        regenerate_outputs: bool = False,
    ) -> PipelineRun:
        """Start a run (v1: `submit(workspace, experiment_name, pipeline_parameters)`)."""
        if isinstance(workspace, str):  # submit("experiment", {...})
            workspace, experiment_name, pipeline_parameters = None, workspace, experiment_name  # type: ignore[assignment]
        workspace = workspace or self.workspace
        if not experiment_name:
            raise ValueError("PublishedPipeline.submit: experiment_name is required")
        assignments = dict(pipeline_parameters or {})
        if regenerate_outputs:
            assignments[REGENERATE_OUTPUTS] = True
        body: dict[str, Any] = {"ExperimentName": experiment_name, "ParameterAssignments": assignments}
        if description is not None:
            body["Description"] = description
        if tags:
            body["Tags"] = tags
        answer = workspace.request("POST", f"/mlpipe/pipelines/{self.name}/submit", json=body).json()
        return PipelineRun(workspace, answer["Id"], pipeline_id=answer.get("PipelineId", self.name))

    def _set(self, action: str) -> None:
        self._update(self.workspace.request("POST", f"/mlpipe/pipelines/{self.name}/{action}").json())

    def enable(self) -> None:
        """Let the pipeline be submitted again (unpauses its DAG)."""
        self._set("enable")

    def disable(self) -> None:
        """Refuse submissions (409) and pause the DAG's schedule."""
        self._set("disable")

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, version={self.version!r}, status={self.status!r})"


# --------------------------------------------------------------------------- experiments


class Experiment:
    """v1's `Experiment(workspace, name)`; `Experiment(name)` for local runs only."""

    def __init__(self, workspace: Workspace | str | None = None, name: str | None = None) -> None:
        if name is None and isinstance(workspace, str):
            workspace, name = None, workspace
        if not name or not isinstance(name, str):
            raise ValueError("Experiment: name is required")
        self.workspace = workspace
        self.name = name

    def submit(
        self,
        config: PublishedPipeline | Pipeline,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        **kwargs: Any,
    ) -> PipelineRun:
        """Run a `PublishedPipeline` remotely, or a notebook's `Pipeline` locally (in a runner process).

        Returns the run at once; `wait_for_completion` waits for it.
        """
        from airflow_provider_mlpipe.authoring.pipeline import Pipeline

        if isinstance(config, PublishedPipeline):
            return config.submit(
                self.workspace or config.workspace,
                self.name,
                pipeline_parameters,
                regenerate_outputs=regenerate_outputs,
                **kwargs,
            )
        if isinstance(config, Pipeline):
            return _run_locally(self.name, config, pipeline_parameters, regenerate_outputs, **kwargs)
        raise TypeError(f"Experiment.submit: expected a Pipeline or PublishedPipeline, got {config!r}")

    def get_runs(self, limit: int = 100) -> list[PipelineRun]:
        """This experiment's runs of published pipelines, newest first (remote only)."""
        if self.workspace is None:
            raise ValueError("Experiment.get_runs needs a workspace")
        answer = self.workspace.request(
            "GET", "/mlpipe/runs", params={"experiment_name": self.name, "limit": limit}
        ).json()
        return [PipelineRun(self.workspace, r["Id"], pipeline_id=r.get("PipelineId")) for r in answer["Runs"]]

    def __repr__(self) -> str:
        return f"Experiment({self.name!r})"


def local_dag_id(experiment_name: str) -> str:
    """The DAG id a local run of `experiment_name` uses."""
    return "mlpipe_experiment_" + re.sub(r"[^A-Za-z0-9_.-]", "_", experiment_name)


def ensure_airflow_db() -> None:
    """Migrate the metadata DB of the current AIRFLOW_HOME when it has no Airflow tables yet."""
    from airflow import settings
    from sqlalchemy import inspect

    if settings.engine is None:
        settings.configure_orm()
    if inspect(settings.engine).has_table("dag_version"):
        return
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow if airflow.exists() else "airflow"), "db", "migrate"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")


def _register_dag(dag: Any) -> None:
    """Write a DAG that lives in no bundle to the metadata DB, as the dag-processor would.

    `dag.test()` needs the DAG's DagModel/DagVersion/serialized rows; it only re-parses
    bundles, so a DAG built in a notebook is registered under the `dags-folder` bundle here.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    names = [bundle.name for bundle in manager.get_all_dag_bundles()]
    bundle = "dags-folder" if "dags-folder" in names else names[0]
    with create_session() as session:
        update_dag_parsing_results_in_db(
            bundle, None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(), session=session
        )


def _run_locally(
    experiment: str,
    pipeline: Pipeline,
    pipeline_parameters: dict[str, Any] | None,
    regenerate_outputs: bool,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> PipelineRun:
    from airflow_provider_mlpipe.api.payload import PayloadError, check_submission

    dag_id = local_dag_id(experiment)
    dag = pipeline.to_dag(dag_id)
    assignments = dict(pipeline_parameters or {})
    if regenerate_outputs:
        assignments[REGENERATE_OUTPUTS] = True
    types = {name: (param.schema or {}).get("type") for name, param in dag.params.items()}
    try:
        submission = check_submission(
            {
                "ExperimentName": experiment,
                "ParameterAssignments": assignments,
                "Description": description,
                "Tags": tags,
                "RunSource": "SDK",
            },
            types,
            dag_id,
            None,
        )
    except PayloadError as error:
        raise PipelineRunError(str(error), None, str(error)) from None
    submission.conf[RUN_RECORD_KEY]["local"] = True
    ensure_airflow_db()
    _register_dag(dag)
    from airflow._shared.timezones import timezone

    from airflow_provider_mlpipe.local_runs import LocalRunner, LocalRunSpec, new_run_id

    logical_date = timezone.utcnow()
    spec = LocalRunSpec(pipeline, dag_id, new_run_id(logical_date), submission.conf, logical_date)
    try:
        runner = LocalRunner.start(spec)
    except ValueError as error:
        raise PipelineRunError(f"Experiment({experiment!r}).submit: {error}") from None
    run = PipelineRun(None, spec.run_id, pipeline_id=dag_id)
    run._runner = runner
    return run


# --------------------------------------------------------------------------- runs


class PortDataReference:
    """One output of a step run (v1's `PortDataReference`): where it is, and `download`."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.name: str = record.get("output_name", "")
        self.datastore_name: str = record["datastore"]
        self.path_on_datastore: str = record["path_on_datastore"]
        self.uri: str | None = record.get("uri")

    def download(self, local_path: str | Path, overwrite: bool = False, show_progress: bool = True) -> str:
        """Copy the output to `local_path/<path_on_datastore>`; returns that path.

        Files already there are kept unless `overwrite`. The datastore is resolved on this
        machine (its Airflow connection, or the embedded folder for `mlpipe_default`).
        """
        from airflow_provider_mlpipe.authoring.datastore import Datastore

        target = Path(local_path) / self.path_on_datastore
        with tempfile.TemporaryDirectory(prefix="mlpipe-download-") as staging:
            Datastore(self.datastore_name).download(
                staging, prefix=self.path_on_datastore, show_progress=show_progress
            )
            staged = Path(staging) / self.path_on_datastore
            files = [staged] if staged.is_file() else [p for p in staged.rglob("*") if p.is_file()]
            for file in files:
                destination = target if staged.is_file() else target / file.relative_to(staged)
                if destination.exists() and not overwrite:
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)
        return str(target)

    def __repr__(self) -> str:
        return f"PortDataReference({self.name!r}, {self.uri or self.path_on_datastore!r})"


class StepRun:
    """One step of a pipeline run (one Airflow task instance)."""

    def __init__(self, run: PipelineRun, record: dict[str, Any]) -> None:
        self.run = run
        self.name: str = record["Name"]
        self.status: str = record["Status"]
        self.reused: bool | None = record.get("Reused")
        self.reused_from: dict[str, Any] | None = record.get("ReusedFrom")
        self.outputs: dict[str, dict[str, Any]] = record.get("Outputs") or {}

    def get_status(self) -> str:
        return self.status

    def get_output_data(self, name: str) -> PortDataReference:
        """The output called `name` (a `PipelineData` name); KeyError lists the known ones."""
        if name not in self.outputs:
            raise KeyError(f"step {self.name!r} has no output {name!r} (outputs: {sorted(self.outputs)})")
        return PortDataReference(self.outputs[name])

    def get_metrics(self) -> dict[str, Any]:
        """What the step's script logged with `Run.get_context().log(...)` (XCom `mlpipe_metrics`).

        When it logged nothing: the `metrics.json` files of its outputs merged (empty when none).
        """
        import json

        from airflow_provider_mlpipe.authoring.datastore import Datastore
        from airflow_provider_mlpipe.hooks.datastore import join_datastore_path

        logged = self.run._step_xcom(self.name, METRICS_XCOM_KEY)
        if isinstance(logged, dict) and logged:
            return logged
        metrics: dict[str, Any] = {}
        for record in self.outputs.values():
            path = record["path_on_datastore"]
            candidate = path if path.endswith("metrics.json") else join_datastore_path(path, "metrics.json")
            data = Datastore(record["datastore"]).client().read_bytes(candidate)
            if data:
                metrics.update(json.loads(data))
        return metrics

    def get_log(self, full: bool = False) -> str:
        """The step's log text (its latest try): the step's own lines, or every line with `full=True`.

        Local runs read Airflow's task log file, remote ones Airflow's log API.
        """
        return self.run._step_log(self.name, full)

    def __repr__(self) -> str:
        return f"StepRun({self.name!r}, status={self.status!r}, reused={self.reused!r})"


class PipelineRun:
    """A run of a pipeline: remote (through `workspace`) or local (workspace None, this DB).

    `PipelineRun(workspace_or_experiment, run_id)` re-attaches to a run: a remote one, or with
    `Experiment(name)` a local one (e.g. after the notebook's kernel restarted).
    """

    def __init__(self, workspace: Workspace | Experiment | None, run_id: str, pipeline_id: str | None = None):
        if isinstance(workspace, Experiment):
            if workspace.workspace is None and pipeline_id is None:
                pipeline_id = local_dag_id(workspace.name)
            workspace = workspace.workspace
        self.workspace = workspace
        self.id = run_id
        self.pipeline_id = pipeline_id
        self._details: dict[str, Any] | None = None
        self._runner: LocalRunner | None = None

    @property
    def is_local(self) -> bool:
        return self.workspace is None

    def _refresh(self) -> dict[str, Any]:
        if self.workspace is not None:
            self._details = self.workspace.request("GET", f"/mlpipe/runs/{self.id}").json()
        else:
            self._details = self._local_refresh()
        self.pipeline_id = self._details.get("PipelineId", self.pipeline_id)
        return self._details

    def _local_runner(self) -> LocalRunner | None:
        from airflow_provider_mlpipe.local_runs import LocalRunner

        if self._runner is None and self.pipeline_id is not None:
            self._runner = LocalRunner.find(self.pipeline_id, self.id)
        return self._runner

    def _local_refresh(self) -> dict[str, Any]:
        """The local run's details; a run whose runner died is settled as Failed."""
        details = _local_details(self.id, self.pipeline_id)
        runner = self._local_runner()
        if details is None:
            if runner is None:
                raise PipelineRunError(f"no local run {self.id!r}", 404)
            if runner.alive():
                return _not_started(self.id, self.pipeline_id, "NotStarted")
            if runner.cancel_requested:
                return _not_started(self.id, self.pipeline_id, "Canceled")
            details = _local_details(self.id, self.pipeline_id)  # it may have created the run, then ended
            if details is None:
                raise PipelineRunError(
                    f"local run {self.id!r}: the runner ended before starting the run; "
                    f"{runner.folder / 'runner.log'} ends with:\n{runner.log_tail()}"
                )
        if details["Status"] not in TERMINAL_STATUSES and runner is not None and not runner.alive():
            # The runner is gone (it crashed, was killed, or a cancel stopped it) mid-run.
            if runner.cancel_requested:
                _cancel_local_run(self.pipeline_id, self.id)
            else:
                _settle_local_run(self.pipeline_id, self.id)
            details = _local_details(self.id, self.pipeline_id) or details
        return details

    def cancel(self) -> None:
        """Stop the run: no further step starts, running scripts are killed, remote jobs cancelled.

        Its status becomes Canceled. A run that has already ended is left as it is. A local run
        is stopped before this returns; a remote one a few seconds later (when Airflow's task
        supervisors and triggerer act on it).
        """
        if self.workspace is not None:
            try:
                self.workspace.request("POST", f"/mlpipe/runs/{self.id}/cancel")
            except ApiError as error:
                if error.status_code != 409:  # 409: it had already ended
                    raise
            return
        self._cancel_local()

    def _cancel_local(self) -> None:
        """Ask the runner to stop, wait until it has (killing its tree after a grace period), then
        mark the run canceled in the DB (only then: see `local_runner.stop`)."""
        from airflow_provider_mlpipe.local_runs import STOP_GRACE_SECONDS

        details = _local_details(self.id, self.pipeline_id)
        if details is not None and details["Status"] in TERMINAL_STATUSES:
            return  # it ended (or was canceled) before
        runner = self._local_runner()
        if runner is not None:
            runner.request_cancel()
            if not runner.wait(STOP_GRACE_SECONDS):
                runner.kill_tree()
        _cancel_local_run(self.pipeline_id, self.id)

    def get_details(self) -> dict[str, Any]:
        """The run as `/mlpipe/runs/{id}` returns it (status, parameters, experiment, steps)."""
        return self._refresh()

    def get_status(self) -> str:
        """v1's status: NotStarted, Running, Finished, Failed or Canceled."""
        return self._refresh()["Status"]

    def get_steps(self) -> list[StepRun]:
        return [StepRun(self, step) for step in self._refresh()["Steps"]]

    def find_step_run(self, name: str) -> list[StepRun]:
        """The step runs called `name` (a list, as in v1)."""
        return [step for step in self.get_steps() if step.name == name]

    def wait_for_completion(
        self,
        show_output: bool = True,
        timeout_seconds: float | None = None,
        raise_on_error: bool = True,
        poll_interval: float = 1.0,
    ) -> str:
        """Poll until the run ends; with `show_output`, print each step's lines as they are written
        (the step's own: its script's output and the provider's lines, not Airflow's bookkeeping)
        and each step's status and reuse decision when it ends.

        Returns the final status; raises `PipelineRunError` when it is Failed and
        `raise_on_error`, `TimeoutError` after `timeout_seconds`. Interrupting it (Ctrl-C) leaves
        the run running; `cancel()` stops it.
        """
        from airflow_provider_mlpipe.local_runs import RUNNER_LOG
        from airflow_provider_mlpipe.run_logs import RunLogPrinter

        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        printer = RunLogPrinter(self._log_source()) if show_output else None
        if show_output:
            print(f"PipelineRunId: {self.id}\nPipeline: {self.pipeline_id}")
        while True:
            details = self._refresh()
            status = details["Status"]
            if printer is not None and (details["Steps"] or status in TERMINAL_STATUSES):
                printer.poll(details["Steps"])
            if status in TERMINAL_STATUSES:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.id} still {status} after {timeout_seconds} s")
            time.sleep(poll_interval)
        if show_output:
            print(f"PipelineRun {self.id} Status: {status}")
        if status == "Failed" and raise_on_error:
            failed = [s["Name"] for s in details["Steps"] if s["Status"] == "Failed"]
            runner = self._local_runner() if self.is_local else None
            where = f"; the local runner's log: {runner.folder / RUNNER_LOG}" if runner is not None else ""
            raise PipelineRunError(
                f"pipeline run {self.id} of {self.pipeline_id} failed; failed step(s): {failed}{where}"
            )
        return status

    def _log_source(self) -> LogSource:
        from airflow_provider_mlpipe.run_logs import LocalLogSource, RemoteLogSource

        if self.workspace is None:
            return LocalLogSource(str(self.pipeline_id), self.id)
        return RemoteLogSource(self.workspace, str(self.pipeline_id), self.id)

    def _step_xcom(self, task_id: str, key: str) -> Any:
        """One XCom value of a step task of this run; None when there is none."""
        if self.workspace is None:
            return _local_xcom(self.pipeline_id, self.id, task_id, key)
        path = f"/api/v2/dags/{self.pipeline_id}/dagRuns/{self.id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self.workspace.request("GET", path, params={"deserialize": True}).json().get("value")
        except ApiError as error:
            if error.status_code == 404:
                return None
            raise

    def _step_log(self, task_id: str, full: bool = False) -> str:
        """The latest try's log of a step as text (see `step_logs`); empty before it ran."""
        from airflow_provider_mlpipe.step_logs import step_text

        if self.pipeline_id is None:
            self._refresh()
        source = self._log_source()
        tries = [t for t in source.tries() if t.task_id == task_id and t.try_number >= 1]
        if not tries:
            return ""
        return step_text(source.all_lines(max(tries, key=lambda t: t.try_number)), full)

    def __repr__(self) -> str:
        where = "local" if self.is_local else self.workspace.url  # type: ignore[union-attr]
        return f"PipelineRun({self.id!r}, pipeline={self.pipeline_id!r}, {where})"


def _local_xcom(dag_id: str | None, run_id: str, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(XComModel).where(
            XComModel.run_id == run_id, XComModel.task_id == task_id, XComModel.key == key
        )
        if dag_id is not None:
            query = query.where(XComModel.dag_id == dag_id)
        row = session.scalars(query.limit(1)).first()
        return None if row is None else XComModel.deserialize_value(row)


def _local_run(session: Any, run_id: str, dag_id: str | None) -> Any:
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    query = select(DagRun).where(DagRun.run_id == run_id)
    if dag_id is not None:
        query = query.where(DagRun.dag_id == dag_id)
    return session.scalars(query).first()


def _local_details(run_id: str, dag_id: str | None) -> dict[str, Any] | None:
    """The run as `/mlpipe/runs/{id}` would show it, from this machine's DB; None before it exists."""
    from airflow.utils.session import create_session

    from airflow_provider_mlpipe.api.runs import run_details

    with create_session() as session:
        run = _local_run(session, run_id, dag_id)
        return None if run is None else run_details(session, run)


def _not_started(run_id: str, dag_id: str | None, status: str) -> dict[str, Any]:
    """A local run whose runner has not created its DAG run (yet)."""
    return {"Id": run_id, "PipelineId": dag_id, "Status": status, "Steps": []}


def _cancel_local_run(dag_id: str | None, run_id: str) -> bool | None:
    """Mark a local run canceled in the DB (see `api.cancel`): True/False as `cancel_run`, None
    when it does not exist; a run that ended on its own is left alone."""
    import getpass

    from airflow.utils.session import create_session

    from airflow_provider_mlpipe.api.cancel import RunAlreadyEnded, cancel_run

    with create_session() as session:
        run = _local_run(session, run_id, dag_id)
        if run is None:
            return None
        try:
            return cancel_run(session, run, getpass.getuser())
        except RunAlreadyEnded:
            return False


def _settle_local_run(dag_id: str | None, run_id: str) -> None:
    """Mark a local run failed whose runner is gone while the DB still says it runs."""
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    from airflow_provider_mlpipe.api.cancel import mark_failed

    with create_session() as session:
        run = _local_run(session, run_id, dag_id)
        dag = None if run is None else DBDagBag().get_dag_for_run(run, session=session)
        if dag is not None:
            mark_failed(dag, run, session)

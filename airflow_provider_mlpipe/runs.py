"""v1's runs API: `Experiment`, `PipelineRun`, `StepRun`, `PortDataReference`, local or remote.

Remote: the run is read through the deployment's `/mlpipe` REST API and step logs through
Airflow's public API (`/api/v2/.../logs/{try_number}`). Local: the run is read from the
metadata DB of the current AIRFLOW_HOME, and a runner process (`local_runner`) runs it.
`wait_for_completion(show_output=True)` prints each step's lines as they are written, `cancel()`
stops a run (both kinds).

Downloading outputs (`PortDataReference.download`) reads the datastore from *this* machine:
the client needs the datastore's Airflow connection (e.g. `AIRFLOW_CONN_<NAME>` in the
environment), or, for the embedded default datastore `mlpipe_default`, the same folder as the
deployment (`AIRFLOW__MLPIPE__EMBEDDED_ROOT`).
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.contract import METRICS_XCOM_KEY, RUN_EXTRAS_XCOM_KEY
from airflow_provider_mlpipe.exceptions import ApiError, PipelineRunError

if TYPE_CHECKING:
    from airflow_provider_mlpipe.authoring.datastore import Datastore
    from airflow_provider_mlpipe.local_runs import LocalRunner
    from airflow_provider_mlpipe.published import PublishedPipeline
    from airflow_provider_mlpipe.run_logs import LogSource
    from airflow_provider_mlpipe.workspace import Workspace

#: v1 statuses a run or step does not leave.
TERMINAL_STATUSES = frozenset({"Finished", "Failed", "Canceled"})


class Experiment:
    """v1's `Experiment(workspace, name)`: a name that groups runs, in a workspace (local or remote).

    `Experiment("name")` is our short form for the embedded local workspace.
    """

    def __init__(
        self,
        workspace: Workspace | str | None,
        name: str | None = None,
        _skip_name_validation: bool = False,
        _id: str | None = None,
        _archived_time: Any = None,
        _create_in_cloud: bool = True,
        _experiment_dto: Any = None,
        **kwargs: Any,
    ) -> None:
        if name is None and isinstance(workspace, str):
            workspace, name = None, workspace
        if not name or not isinstance(name, str):
            raise ValueError("Experiment: name is required")
        if kwargs:
            raise TypeError(f"Experiment({name!r}): unexpected arguments {sorted(kwargs)}")
        self.workspace = workspace
        self.name = name

    @property
    def _remote(self) -> Workspace | None:
        """The remote workspace, or None when the runs are this machine's (the embedded Airflow)."""
        workspace = self.workspace
        return None if workspace is None or workspace.is_local else workspace

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> PipelineRun:
        """v1's `submit`: start a run of `config` (a `Pipeline`, `PublishedPipeline` or
        `PipelineEndpoint`) in this experiment; returns it at once (`wait_for_completion` waits).

        `kwargs` are the config's own: `pipeline_parameters`, `regenerate_outputs`,
        `continue_on_step_failure`... A notebook's `Pipeline` runs in the embedded local Airflow.
        """
        submit_in = getattr(config, "_submit_in", None)
        if submit_in is None:
            raise TypeError(
                f"Experiment({self.name!r}).submit: expected a Pipeline, PublishedPipeline or "
                f"PipelineEndpoint, got {config!r}"
            )
        return submit_in(self, tags=tags, **kwargs)

    def get_runs(
        self,
        type: str | None = None,  # noqa: A002 - v1's name
        tags: Any = None,
        properties: Any = None,
        include_children: bool = False,
    ) -> list[PipelineRun]:
        """This experiment's pipeline runs, newest first (v1's filters are not offered here)."""
        if type is not None or tags is not None or properties is not None:
            raise ValueError(
                f"Experiment({self.name!r}).get_runs: type, tags and properties filters are not supported; "
                "filter the returned runs (run.get_tags(), run.get_details())"
            )
        remote = self._remote
        if remote is None:
            from airflow_provider_mlpipe.api.runs import local_experiment_runs

            found = local_experiment_runs(self.name)
        else:
            found = remote.request("GET", "/mlpipe/runs", params={"experiment_name": self.name, "limit": 100})
            found = found.json()["Runs"]
        return [PipelineRun(self, r["Id"], pipeline_id=r.get("PipelineId")) for r in found]

    def __repr__(self) -> str:
        return f"Experiment({self.name!r})"


def local_dag_id(experiment_name: str) -> str:
    """The DAG id a local run of a notebook pipeline in `experiment_name` uses."""
    return "mlpipe_experiment_" + re.sub(r"[^A-Za-z0-9_.-]", "_", experiment_name)


class PortDataReference:
    """One output of a step run (v1's `PortDataReference`): where it is, and `download`."""

    def __init__(self, record: dict[str, Any], step_run: StepRun | None = None) -> None:
        self.record = record
        self.data_reference_name: str = record.get("output_name", "")
        self.uri: str | None = record.get("uri")
        self._step_run = step_run
        self.pipeline_run_id: str | None = None if step_run is None else step_run.pipeline_run_id

    @property
    def name(self) -> str:
        """The output's name (the `PipelineData` name)."""
        return self.data_reference_name

    @property
    def datastore_name(self) -> str:
        return self.record["datastore"]

    @property
    def path_on_datastore(self) -> str:
        return self.record["path_on_datastore"]

    @property
    def datastore(self) -> Datastore:
        """The `Datastore` the output is on (resolved from its Airflow connection when used)."""
        from airflow_provider_mlpipe.authoring.datastore import Datastore

        workspace = None if self._step_run is None else self._step_run.run.workspace
        return Datastore(workspace, self.datastore_name)

    def download(
        self, local_path: str | Path, overwrite: bool | None = None, show_progress: bool | None = None
    ) -> int:
        """Copy the output to `local_path/<path_on_datastore>`; returns how many files were written.

        As in v1, a file already there is kept (and not counted) unless `overwrite` (default
        False); `show_progress` (default True) prints what was copied. The datastore is resolved
        on this machine (its Airflow connection, or the embedded folder for `mlpipe_default`).
        """
        from airflow_provider_mlpipe.authoring.datastore import Datastore

        target = Path(local_path) / self.path_on_datastore
        written = 0
        with tempfile.TemporaryDirectory(prefix="mlpipe-download-") as staging:
            Datastore(self.datastore_name).download(
                staging, prefix=self.path_on_datastore, show_progress=False
            )
            staged = Path(staging) / self.path_on_datastore
            files = [staged] if staged.is_file() else [p for p in staged.rglob("*") if p.is_file()]
            for file in files:
                destination = target if staged.is_file() else target / file.relative_to(staged)
                if destination.exists() and not overwrite:
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)
                written += 1
        if show_progress is None or show_progress:
            where = self.uri or self.path_on_datastore
            print(f"Downloaded {written} of {len(files)} file(s) of {where} -> {target}")
        return written

    def __repr__(self) -> str:
        return f"PortDataReference({self.name!r}, {self.uri or self.path_on_datastore!r})"


class StepRunOutput:
    """One output of a step run (v1's `StepRunOutput`): `get_port_data_reference()` says where it is."""

    def __init__(self, step_run: StepRun, name: str, record: dict[str, Any]) -> None:
        self.step_run = step_run
        self.pipeline_run_id = step_run.pipeline_run_id
        self.name = name
        self.step_output = record

    def get_port_data_reference(self) -> PortDataReference:
        return PortDataReference(self.step_output, self.step_run)

    def __repr__(self) -> str:
        return f"StepRunOutput({self.name!r}, step={self.step_run.name!r})"


class StepRun:
    """One step of a pipeline run (one Airflow task instance), as v1's `StepRun`.

    `name` is the step's name as written (e.g. "train.py"); `id` is `<dag_id>/<run_id>/<task_id>`,
    what `Run.get_context().id` said in its script; `task_id` the Airflow task's id.
    """

    def __init__(self, run: PipelineRun, record: dict[str, Any]) -> None:
        self.run = run
        self.name: str = record["Name"]
        self.task_id: str = record.get("TaskId") or record["Name"]
        self.id: str = record.get("Id") or f"{run.pipeline_id}/{run.id}/{self.task_id}"
        self.status: str = record["Status"]
        self.reused: bool | None = record.get("Reused")
        self.reused_from: dict[str, Any] | None = record.get("ReusedFrom")
        self.outputs: dict[str, dict[str, Any]] = record.get("Outputs") or {}
        self._record = record

    @property
    def pipeline_run_id(self) -> str:
        """The id of the pipeline run this step belongs to."""
        return self.run.id

    @property
    def parent(self) -> PipelineRun:
        """The pipeline run (v1: a step run's parent run)."""
        return self.run

    def get_status(self) -> str:
        """The step's status now (v1's values: NotStarted, Queued, Running, Finished, Failed, Canceled)."""
        for step in self.run._refresh()["Steps"]:
            if step.get("TaskId", step["Name"]) == self.task_id:
                self.status = step["Status"]
                self.reused, self.reused_from = step.get("Reused"), step.get("ReusedFrom")
                self.outputs = step.get("Outputs") or {}
        return self.status

    def get_details(self) -> dict[str, Any]:
        """The step as `/mlpipe/runs/{id}` describes it (name, id, status, reuse, outputs, times)."""
        return dict(self._record)

    def get_outputs(self) -> dict[str, StepRunOutput]:
        """The step's outputs, by name (v1's `{name: StepRunOutput}`)."""
        return {name: StepRunOutput(self, name, record) for name, record in self.outputs.items()}

    def get_output(self, name: str) -> StepRunOutput:
        """The output called `name` (a `PipelineData` name); KeyError lists the known ones."""
        if name not in self.outputs:
            raise KeyError(f"step {self.name!r} has no output {name!r} (outputs: {sorted(self.outputs)})")
        return StepRunOutput(self, name, self.outputs[name])

    def get_output_data(self, name: str) -> PortDataReference:
        """Where the output called `name` is (v1: `get_output(name).get_port_data_reference()`)."""
        return self.get_output(name).get_port_data_reference()

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """What the step's script logged with `Run.get_context().log(...)` (XCom `mlpipe_metrics`).

        When it logged nothing: the `metrics.json` files of its outputs merged (empty when none).
        `name` keeps one metric; `recursive` answers `{self.id: metrics}` (a step has no child runs),
        kept when `run_type` is None or `azureml.StepRun`. `populate` changes nothing: every value is
        held in full.
        """
        from airflow_provider_mlpipe.run_context import STEP_RUN_TYPE

        metrics = _only(self._metrics(), name)
        if not recursive:
            return metrics
        return {self.id: metrics} if run_type in (None, STEP_RUN_TYPE) else {}

    def _metrics(self) -> dict[str, Any]:
        import json

        from airflow_provider_mlpipe.authoring.datastore import Datastore
        from airflow_provider_mlpipe.hooks.datastore import join_datastore_path

        logged = self.run._step_xcom(self.task_id, METRICS_XCOM_KEY)
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

    def _run_context(self) -> dict[str, Any]:
        """What the script recorded besides metrics (`run_context.run_summary`, XCom `mlpipe_run_extras`)."""
        found = self.run._step_xcom(self.task_id, RUN_EXTRAS_XCOM_KEY)
        if not found and self.reused and isinstance(self.reused_from, dict):
            found = self.run._source_xcom(self.reused_from, RUN_EXTRAS_XCOM_KEY)
        return found if isinstance(found, dict) else {}

    def get_tags(self) -> dict[str, str | None]:
        """The tags the step's script gave its run (`Run.get_context().tag(...)`)."""
        return dict(self._run_context().get("tags") or {})

    def get_file_names(self) -> list[str]:
        """The step's images and uploaded files, as paths beside its metrics (`images/...`, `files/...`)."""
        context = self._run_context()
        return [item["path"] for item in [*context.get("images", []), *context.get("files", [])]]

    def download_file(
        self, name: str, output_file_path: str | Path | None = None, _validate_checksum: bool = False
    ) -> str:
        """Copy one of `get_file_names()` to `output_file_path` (default: its base name, here);
        returns where it went."""
        context = self._run_context()
        if name not in self.get_file_names():
            raise KeyError(f"step {self.name!r} has no file {name!r} (files: {self.get_file_names()})")
        stored = next((f for f in context.get("files", []) if f["path"] == name), None)
        datastore = (stored or {}).get("datastore") or context.get("datastore")
        path = (stored or {}).get("path_on_datastore") or f"{context.get('folder')}/{name}"
        if not datastore:
            raise PipelineRunError(f"step {self.name!r}: file {name!r} was not stored (see the step's log)")
        from airflow_provider_mlpipe.authoring.datastore import Datastore

        data = Datastore(datastore).client().read_bytes(path)
        if data is None:
            raise PipelineRunError(f"step {self.name!r}: file {name!r} is not at {path} on {datastore!r}")
        target = Path(output_file_path) if output_file_path is not None else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return str(target)

    def get_job_log(self) -> str:
        """The step's log (its latest try): its script's output and the provider's lines."""
        return self.get_log()

    def get_log(self, full: bool = False) -> str:
        """The step's log text (its latest try): the step's own lines, or every line with `full=True`.

        Local runs read Airflow's task log file, remote ones Airflow's log API.
        """
        return self.run._step_log(self.task_id, full)

    def __repr__(self) -> str:
        return f"StepRun({self.name!r}, status={self.status!r}, reused={self.reused!r})"


def _has_tags(tags: dict[str, Any], wanted: dict[str, Any], keys_only: bool) -> bool:
    return all(key in tags and (keys_only or tags[key] == value) for key, value in wanted.items())


def _only(metrics: dict[str, Any], name: str | None) -> dict[str, Any]:
    if name is None:
        return metrics
    return {name: metrics[name]} if name in metrics else {}


class PipelineRun:
    """A run of a pipeline (v1's `PipelineRun(experiment, run_id)`): in the embedded local Airflow
    or in a remote deployment, as the experiment's workspace says.

    Constructing one re-attaches to a run, e.g. after the notebook's kernel restarted.
    """

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        _service_endpoint: str | None = None,
        pipeline_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"PipelineRun({run_id!r}): unexpected arguments {sorted(kwargs)}")
        if not isinstance(experiment, Experiment):
            raise TypeError(f"PipelineRun: experiment must be an Experiment, got {experiment!r}")
        self.experiment = experiment
        self.workspace = experiment.workspace
        self._remote = experiment._remote
        if self._remote is None and pipeline_id is None:
            pipeline_id = local_dag_id(experiment.name)
        self.id = run_id
        self.pipeline_id = pipeline_id
        self._details: dict[str, Any] | None = None
        self._runner: LocalRunner | None = None
        self._pipeline: Any = None  # the notebook's Pipeline of a local run (for publish_pipeline)

    @property
    def is_local(self) -> bool:
        return self._remote is None

    def _refresh(self) -> dict[str, Any]:
        if self._remote is not None:
            self._details = self._remote.request("GET", f"/mlpipe/runs/{self.id}").json()
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
        if self._remote is not None:
            try:
                self._remote.request("POST", f"/mlpipe/runs/{self.id}/cancel")
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
        """The run's step runs (every step of the pipeline, started or not), by task id."""
        return [StepRun(self, step) for step in self._refresh()["Steps"]]

    def get_children(
        self,
        recursive: bool = False,
        tags: str | dict[str, Any] | None = None,
        properties: Any = None,
        type: str | None = None,  # noqa: A002 - v1's name
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> list[StepRun]:
        """v1's child runs: the step runs, kept when they have the `tags` (a key, or {key: value}),
        are of `type` (`azureml.StepRun`) and have `status`. A step run has no children of its
        own, so `recursive` finds the same."""
        from airflow_provider_mlpipe.run_context import STEP_RUN_TYPE

        if properties is not None:
            raise ValueError(
                "PipelineRun.get_children: runs have no properties here; filter on tags, status, or "
                "what step.get_details() says"
            )
        if type is not None and type != STEP_RUN_TYPE:
            return []
        steps = self.get_steps()
        if status is not None:
            steps = [step for step in steps if step.status == status]
        if tags is not None:
            wanted = {tags: None} if isinstance(tags, str) else dict(tags)
            steps = [step for step in steps if _has_tags(step.get_tags(), wanted, isinstance(tags, str))]
        return steps

    def find_step_run(self, name: str) -> list[StepRun]:
        """The step runs whose step is called `name`, as written in the pipeline (e.g. "train.py")."""
        return [step for step in self.get_steps() if step.name == name]

    def get_tags(self) -> dict[str, str | None]:
        """The run's tags: those given at submit (`Experiment.submit(..., tags=)`), then those its
        steps' scripts gave it (`Run.get_context().parent.tag(...)`)."""
        tags = dict(self._refresh().get("Tags") or {})
        for context in self._parent_records():
            tags.update(context.get("tags") or {})
        return tags

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """What the steps' scripts logged on the pipeline run (`Run.get_context().parent.log(...)`),
        merged in step order.

        `name` keeps one metric. `recursive` answers `{run id: metrics}` for this run and each
        step run (`StepRun.id`), the runs of `run_type` only when given (`azureml.PipelineRun`,
        `azureml.StepRun`). `populate` changes nothing: every value is held in full.
        """
        from airflow_provider_mlpipe.run_context import PIPELINE_RUN_TYPE, STEP_RUN_TYPE

        own: dict[str, Any] = {}
        for context in self._parent_records():
            own.update(context.get("metrics") or {})
        own = _only(own, name)
        if not recursive:
            return own
        found = {self.id: own} if run_type in (None, PIPELINE_RUN_TYPE) else {}
        if run_type in (None, STEP_RUN_TYPE):
            for step in self.get_steps():
                found[step.id] = step.get_metrics(name)
        return found

    def _parent_records(self) -> list[dict[str, Any]]:
        """What each step's script gave the pipeline run (`parent` of its run context), in step order."""
        records = []
        for step in self.get_steps():
            parent = step._run_context().get("parent")
            if isinstance(parent, dict):
                records.append(parent)
        return records

    def publish_pipeline(
        self,
        name: str,
        description: str,
        version: str,
        continue_on_step_failure: bool | None = None,
        **kwargs: Any,
    ) -> PublishedPipeline:
        """v1's `publish_pipeline`: publish the pipeline this run ran, as `Pipeline.publish` does.

        Only for a local run submitted in this process (its `Pipeline` is at hand). For a remote
        run, or one re-attached with `PipelineRun(experiment, run_id)`, the pipeline is not: call
        `pipeline.publish(...)` in a DAG file of the deployment.
        """
        notify = kwargs.pop("enable_email_notification", None)
        if kwargs:
            raise ValueError(f"PipelineRun.publish_pipeline: unexpected arguments {sorted(kwargs)}")
        if notify:
            raise ValueError(
                "PipelineRun.publish_pipeline: enable_email_notification is not supported; use Airflow's "
                "notifications, e.g. pipeline.publish(..., default_args={'email': [...], "
                "'email_on_failure': True}) or on_failure_callback"
            )
        if self._pipeline is None:
            where = "a remote run" if self._remote is not None else "a run not submitted in this process"
            raise ValueError(
                f"PipelineRun({self.id!r}).publish_pipeline: the pipeline of {where} is not at hand here; "
                f"publish it with pipeline.publish({name!r}, ...) in a DAG file of the deployment"
            )
        return self._pipeline.publish(name, description, version, continue_on_step_failure)

    def wait_for_completion(
        self,
        show_output: bool = True,
        timeout_seconds: float = sys.maxsize,
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

        deadline = None if timeout_seconds is None else time.monotonic() + float(timeout_seconds)
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

        if self.pipeline_id is None:  # re-attached by run id alone: the run says its pipeline
            self._refresh()
        if self._remote is None:
            return LocalLogSource(str(self.pipeline_id), self.id)
        return RemoteLogSource(self._remote, str(self.pipeline_id), self.id)

    def _step_xcom(self, task_id: str, key: str) -> Any:
        """One XCom value of a step task of this run; None when there is none."""
        if self._remote is None:
            return _local_xcom(self.pipeline_id, self.id, task_id, key)
        path = f"/api/v2/dags/{self.pipeline_id}/dagRuns/{self.id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self._remote.request("GET", path, params={"deserialize": True}).json().get("value")
        except ApiError as error:
            if error.status_code == 404:
                return None
            raise

    def _source_xcom(self, source: dict[str, Any], key: str) -> Any:
        """One XCom value of the step run a reused step took its outputs from; None when none."""
        dag_id, run_id, task_id = source.get("dag_id"), source.get("run_id"), source.get("task_id")
        if not (dag_id and run_id and task_id):
            return None
        if self._remote is None:
            return _local_xcom(dag_id, run_id, task_id, key)
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        try:
            return self._remote.request("GET", path, params={"deserialize": True}).json().get("value")
        except ApiError as error:
            if error.status_code in (403, 404):
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

    @staticmethod
    def get(workspace: Workspace, run_id: str, _service_endpoint: str | None = None) -> PipelineRun:
        """v1's `PipelineRun.get`: the run `run_id` of `workspace` (its experiment is read from the run)."""
        remote = None if workspace is None or workspace.is_local else workspace
        if remote is not None:
            details = remote.request("GET", f"/mlpipe/runs/{run_id}").json()
        else:
            details = _local_details(run_id, None)
            if details is None:
                raise PipelineRunError(f"no local run {run_id!r}", 404)
        experiment = Experiment(workspace, details.get("ExperimentName") or "default")
        run = PipelineRun(experiment, run_id, pipeline_id=details.get("PipelineId"))
        run._details = details
        return run

    def __repr__(self) -> str:
        where = "local" if self._remote is None else self._remote.url
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

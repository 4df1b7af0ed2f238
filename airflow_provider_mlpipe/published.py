"""v1's `PublishedPipeline`: a pipeline made a REST endpoint, here a DAG tagged by `Pipeline.publish`.

`Pipeline.publish(...)` in a DAG file returns one (Airflow still finds the DAG: it is registered
as the DAG file's); `PublishedPipeline.get/list` find them in a workspace: the embedded local
Airflow (its metadata DB) or a remote deployment (the `/mlpipe` REST API). The id of a published
pipeline is its DAG id, which is also its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.exceptions import ApiError
from airflow_provider_mlpipe.runs import Experiment, PipelineRun
from airflow_provider_mlpipe.workspace import Workspace

if TYPE_CHECKING:
    from airflow.sdk import DAG


class PublishedPipeline:
    """A published pipeline: `id` (= `name`, its DAG id), `version`, `status`, `endpoint`."""

    def __init__(
        self,
        name: str,
        graph_id: str | None,
        description: str | None,
        version: str | None,
        published_pipeline_id: str,
        status: str,
        endpoint: str | None,
        total_run_steps: int | None,
        workspace: Workspace,
        continue_on_step_failure: bool | None = None,
        _pipeline_provider: Any = None,
        **kwargs: Any,
    ) -> None:
        self.name = name
        self.graph_id = graph_id
        self.description = description
        self.version = version
        self.id = published_pipeline_id
        self.status = status
        self._endpoint = endpoint
        self.total_run_steps = total_run_steps
        self.workspace = workspace
        self.continue_on_step_failure = continue_on_step_failure
        #: The DAG (when made by `Pipeline.publish` in this process) and the pipeline it came from.
        self.dag: DAG | None = kwargs.pop("_dag", None)
        self._pipeline: Any = kwargs.pop("_pipeline", None)
        if kwargs:
            raise TypeError(f"PublishedPipeline({name!r}): unexpected arguments {sorted(kwargs)}")

    # -- made here or found ----------------------------------------------------------------------

    @classmethod
    def _of_dag(
        cls,
        dag: DAG,
        pipeline: Any,
        description: str | None,
        version: str | None,
        continue_on_step_failure: bool,
    ) -> PublishedPipeline:
        """The handle `Pipeline.publish` returns: the embedded local workspace's, holding the DAG.
        Published in a notebook (not while a DAG file is parsed), it is written to the local DB
        when the local workspace is next asked about its pipelines."""
        handle = cls(
            dag.dag_id,
            dag.dag_id,
            description,
            version,
            dag.dag_id,
            "Active",
            None,
            len(dag.task_dict),
            Workspace.local(),
            continue_on_step_failure,
            _dag=dag,
            _pipeline=pipeline,
        )
        from airflow.sdk.definitions._internal.contextmanager import DagContext

        if DagContext.current_autoregister_module_name is None:
            from airflow_provider_mlpipe.local_submit import remember_published

            remember_published(handle)
        return handle

    @classmethod
    def _of_record(cls, workspace: Workspace, record: dict[str, Any]) -> PublishedPipeline:
        """A handle from a record in v1's REST shape (`Id`, `Name`, `Version`, `Status`, `Endpoint`...)."""
        return cls(
            record["Name"],
            record.get("GraphId", record["Id"]),
            record.get("Description"),
            record.get("Version"),
            record["Id"],
            record.get("Status", "Active"),
            record.get("Endpoint"),
            record.get("TotalRunSteps"),
            workspace,
            record.get("ContinueOnStepFailure"),
        )

    def _update(self, record: dict[str, Any]) -> None:
        self.status = record.get("Status", self.status)
        self.version = record.get("Version", self.version)
        self._endpoint = record.get("Endpoint", self._endpoint)

    @property
    def endpoint(self) -> str:
        """The REST URL that submits a run (`POST` v1's body with a bearer token)."""
        if self._endpoint is None:
            from airflow_provider_mlpipe.workspace_catalog import local_api_root

            self._endpoint = f"{local_api_root()}/pipelines/{self.id}/submit"
        return self._endpoint

    @staticmethod
    def list(
        workspace: Workspace, active_only: bool = True, _service_endpoint: str | None = None
    ) -> list[PublishedPipeline]:
        """The published pipelines of `workspace` the user may see (only Active ones if `active_only`)."""
        if workspace.is_local:
            from airflow_provider_mlpipe.workspace_catalog import local_published_pipelines

            records = local_published_pipelines()
        else:
            params = {"active_only": active_only}
            records = workspace.request("GET", "/mlpipe/pipelines", params=params).json()["Pipelines"]
        found = [PublishedPipeline._of_record(workspace, record) for record in records]
        return [p for p in found if p.status == "Active"] if active_only else found

    @staticmethod
    def get_all(
        workspace: Workspace, active_only: bool = True, _service_endpoint: str | None = None
    ) -> list[PublishedPipeline]:
        """v1's older name of `list`."""
        return PublishedPipeline.list(workspace, active_only)

    @staticmethod
    def get(
        workspace: Workspace, id: str, _workflow_provider: Any = None, _service_endpoint: str | None = None
    ) -> PublishedPipeline:  # noqa: A002
        """The published pipeline `id` (its DAG id, which is also its name)."""
        if not id:
            raise ValueError("PublishedPipeline.get: give the id (the published pipeline's name)")
        for pipeline in PublishedPipeline.list(workspace, active_only=False):
            if id in (pipeline.id, pipeline.name):
                return pipeline
        raise ApiError(f"no published pipeline {id!r} in {workspace!r}", 404, "not found")

    # -- runs and state --------------------------------------------------------------------------

    def submit(
        self,
        workspace: Workspace,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
        parent_run_id: str | None = None,
        continue_on_step_failure: bool | None = None,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        regenerate_outputs: bool = False,
    ) -> PipelineRun:
        """Start a run in `experiment_name`; returns it at once.

        `parent_run_id` is recorded with the run (v1 links it under that run);
        `continue_on_step_failure` overrides the published default for this run.
        """
        if not experiment_name or not isinstance(experiment_name, str):
            raise ValueError(f"PublishedPipeline({self.name!r}).submit: experiment_name is required")
        return self._submit_in(
            Experiment(workspace or self.workspace, experiment_name),
            pipeline_parameters=pipeline_parameters,
            parent_run_id=parent_run_id,
            continue_on_step_failure=continue_on_step_failure,
            description=description,
            tags=tags,
            regenerate_outputs=regenerate_outputs,
        )

    def _submit_in(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        continue_on_step_failure: bool | None = None,
        parent_run_id: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """`Experiment.submit(published, ...)` and `submit` end here."""
        if kwargs:
            raise TypeError(
                f"submit of published pipeline {self.name!r}: unexpected arguments {sorted(kwargs)}"
            )
        from airflow_provider_mlpipe.submission import submit_body

        body = submit_body(
            experiment.name,
            pipeline_parameters,
            regenerate_outputs,
            continue_on_step_failure,
            parent_run_id,
            description,
            tags,
        )
        remote = experiment._remote
        if remote is not None:
            answer = remote.request("POST", f"/mlpipe/pipelines/{self.id}/submit", json=body).json()
            return PipelineRun(experiment, answer["Id"], pipeline_id=answer.get("PipelineId", self.id))
        from airflow_provider_mlpipe.local_submit import submit_published_locally

        return submit_published_locally(self, experiment, body)

    def _set(self, action: str) -> None:
        if self.workspace.is_local:
            from airflow_provider_mlpipe.workspace_catalog import set_local_pipeline_paused

            self._update(set_local_pipeline_paused(self.id, action == "disable"))
        else:
            self._update(self.workspace.request("POST", f"/mlpipe/pipelines/{self.id}/{action}").json())

    def enable(self) -> None:
        """Let the pipeline be submitted again (unpauses its DAG)."""
        self._set("enable")

    def disable(self) -> None:
        """Refuse submissions (409) and pause the DAG's schedule."""
        self._set("disable")

    def get_step_names(self, _workflow_provider: Any = None) -> list[str]:
        """The names of the pipeline's steps (its DAG's tasks) when this process holds the DAG."""
        if self.dag is None:
            raise ValueError(
                f"PublishedPipeline({self.name!r}).get_step_names: only known for a pipeline published in "
                "this process; a run's get_steps() names the steps of any run"
            )
        return list(self.dag.task_dict)

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, version={self.version!r}, status={self.status!r})"

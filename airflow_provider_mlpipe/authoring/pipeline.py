"""`Pipeline`: a set of steps that becomes an Airflow DAG or task group."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.authoring.datastore import Datastore
from airflow_provider_mlpipe.authoring.errors import PipelineValidationError
from airflow_provider_mlpipe.graph import PipelineGraph, build_graph, flatten_steps

if TYPE_CHECKING:
    from airflow.sdk import DAG, TaskGroup

    from airflow_provider_mlpipe.published import PublishedPipeline
    from airflow_provider_mlpipe.runs import Experiment, PipelineRun


def _is_workspace(value: Any) -> bool:
    """Whether `value` is a workspace (our `Workspace`, or anything with its `get_default_datastore`)."""
    return value is None or callable(getattr(value, "get_default_datastore", None))


def _defining_file_dir(depth: int) -> Path:
    """Folder of the file that made the pipeline (the DAG file); the working folder in a notebook."""
    filename = sys._getframe(depth + 1).f_code.co_filename
    if filename and not filename.startswith("<") and os.path.isfile(filename):
        return Path(filename).resolve().parent
    return Path.cwd()


class Pipeline:
    """Steps (nested lists allowed) plus defaults; v1's `Pipeline(workspace, steps, ...)`, run by
    Airflow. `Pipeline([steps])` and `Pipeline(steps=[...])` are short forms for the embedded local
    workspace.

    Relative `source_directory` values resolve against the folder of the file that creates
    the Pipeline, so a DAG folder can be moved as a whole.
    """

    def __init__(
        self,
        workspace: Any = None,
        steps: Any = None,
        description: str | None = None,
        default_datastore: Datastore | None = None,
        default_source_directory: str | Path | None = None,
        resolve_closure: bool = True,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        if steps is None and not _is_workspace(workspace):
            workspace, steps = None, workspace  # our short form: Pipeline([steps])
        elif not _is_workspace(workspace):
            raise TypeError(f"Pipeline: workspace must be a Workspace (or None), got {workspace!r}")
        if kwargs:
            raise TypeError(f"Pipeline: unexpected arguments {sorted(kwargs)}")
        if default_datastore is not None and not isinstance(default_datastore, Datastore):
            raise TypeError("Pipeline: default_datastore must be a Datastore")
        if not resolve_closure:
            raise ValueError(
                "Pipeline: resolve_closure=False is not supported; producers are always pulled in"
            )
        self.workspace = workspace
        self.steps = flatten_steps(steps)
        if not self.steps:
            raise ValueError("Pipeline: steps is empty")
        self.description = description
        self.default_datastore = default_datastore
        self.default_source_directory = default_source_directory
        self.base_dir = _defining_file_dir(1)
        self._graph: PipelineGraph | None = None

    def validate(self) -> list[str]:
        """Every problem of this pipeline, each naming its step; empty when it can run."""
        _graph, problems = self._build()
        return problems

    def graph(self, name: str | None = None) -> PipelineGraph:
        """The checked graph; raises `PipelineValidationError` listing every problem."""
        if self._graph is None:
            graph, problems = self._build()
            if problems:
                raise PipelineValidationError(problems, name)
            self._graph = graph
        return self._graph  # type: ignore[return-value]

    def _build(self) -> tuple[PipelineGraph | None, list[str]]:
        return build_graph(
            self.steps,
            self.base_dir,
            self.description,
            self.default_datastore,
            self.default_source_directory,
        )

    def to_dag(self, dag_id: str, regenerate_outputs: bool = False, **dag_kwargs: Any) -> DAG:
        """An Airflow DAG with one task per step; `dag_kwargs` go to `DAG` (schedule defaults to None).

        `regenerate_outputs=True` re-runs every step in every run unless the run's conf says
        `{"regenerate_outputs": false}` (and the other way round).
        """
        from airflow_provider_mlpipe.translation import pipeline_to_dag

        return pipeline_to_dag(self, dag_id, regenerate_outputs, **dag_kwargs)

    def publish(
        self,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
        **dag_kwargs: Any,
    ) -> PublishedPipeline:
        """v1's `publish`: a DAG (dag_id = name) triggerable over REST under `/mlpipe/pipelines/<name>`,
        returned as a `PublishedPipeline` (its `.dag` is the DAG; Airflow finds it in the DAG file
        without it being assigned to a module variable).

        `continue_on_step_failure` False (the default) stops the run at the first failed step;
        True lets every step that does not depend on the failed one run. `dag_kwargs` go to `DAG`.
        """
        if not name or not isinstance(name, str):
            raise ValueError("Pipeline.publish: give a name (it becomes the DAG id and the pipeline's id)")
        from airflow_provider_mlpipe.translation import publish_pipeline

        return publish_pipeline(
            self, name, description, version, bool(continue_on_step_failure), **dag_kwargs
        )

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        regenerate_outputs: bool = False,
        parent_run_id: str | None = None,
        credential_passthrough: Any = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """v1's `submit`: run this pipeline in experiment `experiment_name` of its workspace; returns
        the run at once. A notebook's pipeline runs in the embedded local Airflow."""
        from airflow_provider_mlpipe.runs import Experiment

        return Experiment(self.workspace, experiment_name).submit(
            self,
            pipeline_parameters=pipeline_parameters,
            continue_on_step_failure=continue_on_step_failure,
            regenerate_outputs=regenerate_outputs,
            parent_run_id=parent_run_id,
            credential_passthrough=credential_passthrough,
            **kwargs,
        )

    def _submit_in(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        continue_on_step_failure: bool | None = None,
        parent_run_id: str | None = None,
        credential_passthrough: Any = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """`Experiment.submit(pipeline, ...)` ends here: a local run, in a runner process."""
        if kwargs:
            raise TypeError(f"submit of a Pipeline: unexpected arguments {sorted(kwargs)}")
        if credential_passthrough:
            raise ValueError(
                "Pipeline.submit: credential_passthrough is not supported; steps use the Airflow "
                "connections of their datastores and compute targets"
            )
        if experiment._remote is not None:
            raise ValueError(
                f"Experiment({experiment.name!r}) is in a remote workspace: a notebook's pipeline runs in "
                "the embedded local Airflow (submit it with Workspace.from_config() finding no config, or "
                "Experiment(name)); to run it on the deployment, publish it in a DAG file there"
            )
        from airflow_provider_mlpipe.local_submit import run_pipeline_locally

        return run_pipeline_locally(
            experiment,
            self,
            pipeline_parameters,
            regenerate_outputs,
            description,
            tags,
            continue_on_step_failure,
            parent_run_id,
        )

    def to_task_group(
        self, group_id: str, regenerate_outputs: bool = False, **group_kwargs: Any
    ) -> TaskGroup:
        """Add the steps to the DAG being defined (`with DAG(...)`) inside a task group."""
        from airflow_provider_mlpipe.translation import pipeline_to_task_group

        return pipeline_to_task_group(self, group_id, regenerate_outputs, **group_kwargs)

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self.steps]!r})"

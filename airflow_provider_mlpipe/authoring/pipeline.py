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


def _defining_file_dir(depth: int) -> Path:
    """Folder of the file that made the pipeline (the DAG file); the working folder in a notebook."""
    filename = sys._getframe(depth + 1).f_code.co_filename
    if filename and not filename.startswith("<") and os.path.isfile(filename):
        return Path(filename).resolve().parent
    return Path.cwd()


class Pipeline:
    """Steps (nested lists allowed) plus defaults; v1's `Pipeline`, run by Airflow.

    Relative `source_directory` values resolve against the folder of the file that creates
    the Pipeline, so a DAG folder can be moved as a whole.
    """

    def __init__(
        self,
        steps: Any,
        description: str | None = None,
        default_datastore: Datastore | None = None,
        default_source_directory: str | Path | None = None,
        *,
        workspace: Any = None,
        resolve_closure: bool = True,
    ) -> None:
        if default_datastore is not None and not isinstance(default_datastore, Datastore):
            raise TypeError("Pipeline: default_datastore must be a Datastore")
        if not resolve_closure:
            raise ValueError(
                "Pipeline: resolve_closure=False is not supported; producers are always pulled in"
            )
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
        name: str,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool = False,
        **dag_kwargs: Any,
    ) -> DAG:
        """v1's `publish`: a DAG (dag_id = name) triggerable over REST under `/mlpipe/pipelines/<name>`.

        `continue_on_step_failure=False` stops the run at the first failed step (Airflow's
        fail-fast); True lets every step that does not depend on the failed one run.
        """
        from airflow_provider_mlpipe.translation import publish_pipeline

        return publish_pipeline(self, name, description, version, continue_on_step_failure, **dag_kwargs)

    def to_task_group(
        self, group_id: str, regenerate_outputs: bool = False, **group_kwargs: Any
    ) -> TaskGroup:
        """Add the steps to the DAG being defined (`with DAG(...)`) inside a task group."""
        from airflow_provider_mlpipe.translation import pipeline_to_task_group

        return pipeline_to_task_group(self, group_id, regenerate_outputs, **group_kwargs)

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self.steps]!r})"

"""Local runs of a notebook's pipelines: `Experiment(name).submit(pipeline)` and the submit of a
`PublishedPipeline` of the embedded local workspace.

The run goes through the same submission check as the REST API (`api.payload`), is registered
in the metadata DB of the current AIRFLOW_HOME (migrated first when new), and runs in a runner
process of its own (`local_runner`); the `PipelineRun` is returned at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.contract import RUN_RECORD_KEY
from airflow_provider_mlpipe.exceptions import PipelineRunError
from airflow_provider_mlpipe.local_db import ensure_airflow_db
from airflow_provider_mlpipe.runs import PipelineRun, local_dag_id
from airflow_provider_mlpipe.submission import submit_body

if TYPE_CHECKING:
    from airflow_provider_mlpipe.authoring.pipeline import Pipeline
    from airflow_provider_mlpipe.published import PublishedPipeline
    from airflow_provider_mlpipe.runs import Experiment


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


#: Pipelines published in this process outside a DAG file (a notebook), not yet in the local DB.
_PUBLISHED_HERE: dict[str, Any] = {}


def remember_published(published: PublishedPipeline) -> None:
    """Keep a pipeline a notebook published, for `register_published_here`."""
    _PUBLISHED_HERE[published.id] = published


def register_published_here() -> None:
    """Write the pipelines this process published to the embedded local Airflow's metadata DB, so
    the local workspace's `PublishedPipeline.get/list`, endpoints and schedules find them (a DAG
    file's are written by the dag-processor)."""
    if not _PUBLISHED_HERE:
        return
    ensure_airflow_db()
    while _PUBLISHED_HERE:
        _name, published = _PUBLISHED_HERE.popitem()
        _register_dag(published.dag)


def _is_paused(dag_id: str) -> bool:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        return bool(model is not None and model.is_paused)


def run_pipeline_locally(
    experiment: Experiment,
    pipeline: Pipeline,
    pipeline_parameters: dict[str, Any] | None,
    regenerate_outputs: bool,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    continue_on_step_failure: bool | None = None,
    parent_run_id: str | None = None,
) -> PipelineRun:
    """Run a notebook's `Pipeline` in `experiment` (DAG `mlpipe_experiment_<name>`)."""
    dag_id = local_dag_id(experiment.name)
    body = submit_body(
        experiment.name,
        pipeline_parameters,
        regenerate_outputs,
        continue_on_step_failure,
        parent_run_id,
        description,
        tags,
    )
    return _start(experiment, pipeline, pipeline.to_dag(dag_id), body, None, None)


def submit_published_locally(
    published: PublishedPipeline, experiment: Experiment, body: dict[str, Any]
) -> PipelineRun:
    """Run a pipeline published in this process (`Pipeline.publish`) in the embedded local Airflow."""
    if published._pipeline is None or published.dag is None:
        raise PipelineRunError(
            f"published pipeline {published.name!r}: a local submit runs a pipeline published in this "
            "process (pipeline.publish(...)); for one in a deployment's DAG folder, use a workspace "
            "connected to that deployment (Workspace.from_config / Workspace.connect)"
        )
    publish_args = (
        published.name,
        published.description,
        published.version,
        bool(published.continue_on_step_failure),
    )
    return _start(experiment, published._pipeline, published.dag, body, published.version, publish_args)


def _start(
    experiment: Experiment,
    pipeline: Pipeline,
    dag: Any,
    body: dict[str, Any],
    version: str | None,
    publish_args: tuple[Any, ...] | None,
) -> PipelineRun:
    from airflow_provider_mlpipe.api.payload import PayloadError, check_submission

    dag_id = dag.dag_id
    types = {name: (param.schema or {}).get("type") for name, param in dag.params.items()}
    try:
        submission = check_submission({**body, "RunSource": "SDK"}, types, dag_id, version)
    except PayloadError as error:
        raise PipelineRunError(str(error), None, str(error)) from None
    submission.conf[RUN_RECORD_KEY]["local"] = True
    ensure_airflow_db()
    _register_dag(dag)
    if publish_args is not None and _is_paused(dag_id):
        raise PipelineRunError(f"published pipeline {dag_id!r} is disabled; enable() it first", 409)
    from airflow._shared.timezones import timezone

    from airflow_provider_mlpipe.local_runs import LocalRunner, LocalRunSpec, new_run_id

    logical_date = timezone.utcnow()
    spec = LocalRunSpec(
        pipeline, dag_id, new_run_id(logical_date), submission.conf, logical_date, publish_args
    )
    try:
        runner = LocalRunner.start(spec)
    except ValueError as error:
        raise PipelineRunError(f"Experiment({experiment.name!r}).submit: {error}") from None
    run = PipelineRun(experiment, spec.run_id, pipeline_id=dag_id)
    run._runner = runner
    run._pipeline = pipeline
    return run

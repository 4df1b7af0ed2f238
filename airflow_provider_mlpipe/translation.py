"""Turn a checked pipeline graph into Airflow: one task per step, typed params, edges.

The only module that knows both the authoring objects and Airflow. Runs at DAG parse time,
so it builds operators from plain values and touches no storage or network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, TaskGroup
from airflow.sdk.definitions._internal.contextmanager import DagContext

from airflow_provider_mlpipe.authoring.data import DataPath, PipelineParameter
from airflow_provider_mlpipe.authoring.errors import PipelineValidationError
from airflow_provider_mlpipe.contract import (
    CONTINUE_ON_STEP_FAILURE,
    DATASTORE_SCHEDULE_TAG,
    PIPELINE_TAG,
    PUBLISHED_TAG,
    REGENERATE_OUTPUTS,
    VERSION_TAG_PREFIX,
)
from airflow_provider_mlpipe.step_kinds import import_class

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from airflow_provider_mlpipe.authoring.datastore_schedule import DatastoreSchedule
    from airflow_provider_mlpipe.authoring.pipeline import Pipeline
    from airflow_provider_mlpipe.graph import PipelineGraph, StepNode
    from airflow_provider_mlpipe.published import PublishedPipeline

_JSON_SCHEMA_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def parameter_param(parameter: PipelineParameter, users: list[str]) -> Param:
    """A typed DAG `Param` for a `PipelineParameter` (shown and checked by the trigger form).

    A DataPath parameter is an object `{"datastore": <connection id or null>, "path_on_datastore": ...}`.
    """
    if isinstance(parameter.default_value, DataPath):
        return Param(
            parameter.default_value.as_value(),
            type="object",
            description=(
                'DataPath PipelineParameter: {"datastore": <connection id, null = default datastore>, '
                f'"path_on_datastore": <path>}}; used by step(s): {", ".join(users)}'
            ),
        )
    schema_type: Any = _JSON_SCHEMA_TYPES[parameter.value_type]
    if schema_type == "number":
        schema_type = ["number", "integer"]
    return Param(
        parameter.default_value,
        type=schema_type,
        description=f"PipelineParameter used by step(s): {', '.join(users)}",
    )


def pipeline_params(graph: PipelineGraph) -> dict[str, Param]:
    users: dict[str, list[str]] = {name: [] for name in graph.parameters}
    for node in graph.nodes:
        for name in node.parameters:
            users[name].append(node.name)
    return {name: parameter_param(p, users[name]) for name, p in graph.parameters.items()}


def regenerate_param(default: bool) -> Param:
    """v1's `regenerate_outputs`: a run with it set runs every step, reusing nothing."""
    return Param(
        bool(default),
        type="boolean",
        description="Run every step even where an unchanged earlier run could be reused.",
    )


def pipeline_to_dag(
    pipeline: Pipeline, dag_id: str, regenerate_outputs: bool = False, **dag_kwargs: Any
) -> DAG:
    """Build the DAG for `pipeline`; raises `PipelineValidationError` naming every problem.

    `regenerate_outputs=True` makes every run re-run all steps unless its conf says otherwise.
    """
    graph = pipeline.graph(dag_id)
    params = {
        **pipeline_params(graph),
        REGENERATE_OUTPUTS: regenerate_param(regenerate_outputs),
        **dict(dag_kwargs.pop("params", None) or {}),
    }
    new_data = datastore_schedule_of(dag_kwargs.get("schedule"), graph, dag_id)
    if new_data is not None:
        dag_kwargs["schedule"] = None  # its runs are started, one per file, by the dispatcher DAG
    dag_kwargs.setdefault("schedule", None)
    dag_kwargs["tags"] = [*dag_kwargs.get("tags", []), PIPELINE_TAG]  # what the monitoring page lists
    if graph.description and "doc_md" not in dag_kwargs:
        dag_kwargs["doc_md"] = graph.description
    if graph.description and "description" not in dag_kwargs:
        dag_kwargs["description"] = graph.description.strip().splitlines()[0][:200]
    with DAG(dag_id, params=params, **dag_kwargs) as dag:
        tasks = add_step_tasks(graph, regenerate_outputs)
    check_template_syntax(list(tasks.values()), dag, dag_id)
    if new_data is not None:
        add_new_data_dispatcher(new_data, dag)
    return dag


def datastore_schedule_of(schedule: Any, graph: PipelineGraph, dag_id: str) -> DatastoreSchedule | None:
    """The `DatastoreSchedule` given as `schedule`, checked against the pipeline, or None."""
    if schedule is None or isinstance(schedule, str):  # the usual cases: no import needed
        return None
    from airflow_provider_mlpipe.authoring.datastore_schedule import DatastoreSchedule

    if isinstance(schedule, list | tuple) and any(isinstance(s, DatastoreSchedule) for s in schedule):
        if len(schedule) != 1:
            raise PipelineValidationError(
                ["a datastore_schedule with data_path_parameter_name must be the only schedule"], dag_id
            )
        schedule = schedule[0]
    if not isinstance(schedule, DatastoreSchedule):
        return None
    name = schedule.data_path_parameter_name
    data_paths = sorted(n for n, p in graph.parameters.items() if isinstance(p.default_value, DataPath))
    if name not in data_paths:
        kind = "is not a DataPath parameter" if name in graph.parameters else "is not a parameter"
        raise PipelineValidationError(
            [
                f"datastore_schedule: data_path_parameter_name {name!r} {kind} of this pipeline "
                f"(its DataPath parameters: {', '.join(data_paths) or 'none'})"
            ],
            dag_id,
        )
    return schedule


def add_new_data_dispatcher(schedule: DatastoreSchedule, pipeline_dag: DAG) -> DAG:
    """The DAG, scheduled on the watched asset, that starts one run of `pipeline_dag` per file."""
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from airflow_provider_mlpipe.authoring.datastore_schedule import dispatcher_dag_id
    from airflow_provider_mlpipe.operators.new_data_runs import NewDataRunsOperator

    asset = schedule.asset
    parameter = schedule.data_path_parameter_name
    extra: dict[str, Any] = {}
    if pipeline_dag.access_control:
        extra["access_control"] = pipeline_dag.access_control
    if pipeline_dag.is_paused_upon_creation is not None:  # a published pipeline's is active with it
        extra["is_paused_upon_creation"] = pipeline_dag.is_paused_upon_creation
    with DAG(
        dispatcher_dag_id(pipeline_dag.dag_id),
        schedule=[asset],
        max_active_runs=1,
        tags=[DATASTORE_SCHEDULE_TAG],
        description=f"Starts one run of {pipeline_dag.dag_id} per new or changed file of {asset.uri}",
        doc_md=(
            f"Datastore schedule of `{pipeline_dag.dag_id}`: each new or changed file under "
            f"`{asset.uri}` starts one run of it with the parameter `{parameter}` set to that file."
        ),
        **extra,
    ) as dispatcher:
        to_start = NewDataRunsOperator(
            task_id="find_new_files",
            asset=asset,
            target_dag_id=pipeline_dag.dag_id,
            data_path_parameter_name=parameter,
        )
        TriggerDagRunOperator.partial(
            task_id="start_pipeline_run",
            trigger_dag_id=pipeline_dag.dag_id,
            logical_date=None,
            skip_when_already_exists=True,
        ).expand_kwargs(to_start.output)
    return dispatcher


def publish_pipeline(
    pipeline: Pipeline,
    name: str,
    description: str | None,
    version: str | None,
    continue_on_step_failure: bool,
    **dag_kwargs: Any,
) -> PublishedPipeline:
    """A published pipeline: its DAG carries the tags the `/mlpipe` REST API looks for.

    Active on creation, as in v1 (a paused DAG's submissions get 409 until someone enables it),
    whatever `[core] dags_are_paused_at_creation` says, unless `is_paused_upon_creation=True`.
    """
    dag_kwargs.setdefault("is_paused_upon_creation", False)
    tags = [*dag_kwargs.pop("tags", []), PUBLISHED_TAG]
    if version is not None:
        tags.append(f"{VERSION_TAG_PREFIX}{version}")
        dag_kwargs.setdefault("dag_display_name", f"{name} (v{version})")
    if description is not None:
        dag_kwargs.setdefault("doc_md", description)
        dag_kwargs.setdefault(
            "description", description.strip().splitlines()[0][:200] if description.strip() else None
        )
    params = dict(dag_kwargs.pop("params", None) or {})
    params.setdefault(
        CONTINUE_ON_STEP_FAILURE,
        Param(
            bool(continue_on_step_failure),
            type="boolean",
            description="False: once a step fails, start no other step of the run.",
        ),
    )
    dag = pipeline_to_dag(pipeline, name, tags=tags, params=params, **dag_kwargs)
    with dag:  # leaving the DAG's context registers it as the DAG file's (what Airflow collects)
        pass
    from airflow_provider_mlpipe.published import PublishedPipeline

    return PublishedPipeline._of_dag(dag, pipeline, description, version, continue_on_step_failure)


def pipeline_to_task_group(
    pipeline: Pipeline, group_id: str, regenerate_outputs: bool = False, **group_kwargs: Any
) -> TaskGroup:
    """Add the pipeline's steps, in a task group, to the DAG being defined."""
    dag = DagContext.get_current()
    if dag is None:
        raise RuntimeError(f"to_task_group({group_id!r}) must be called inside `with DAG(...)`")
    graph = pipeline.graph(f"{dag.dag_id}.{group_id}")
    clashes = []
    if REGENERATE_OUTPUTS not in dag.params:
        dag.params[REGENERATE_OUTPUTS] = regenerate_param(regenerate_outputs)
    for name, param in pipeline_params(graph).items():
        existing = dag.params.get_param(name) if name in dag.params else None
        if existing is not None and existing.value != param.value:
            clashes.append(
                f"PipelineParameter {name!r}: default {param.value!r} differs from the DAG's "
                f"param default {existing.value!r}"
            )
        elif existing is None:
            dag.params[name] = param
    if clashes:
        raise PipelineValidationError(clashes, f"{dag.dag_id}.{group_id}")
    if graph.description:
        group_kwargs.setdefault("tooltip", graph.description.strip().splitlines()[0])
    with TaskGroup(group_id, **group_kwargs) as group:
        tasks = add_step_tasks(graph, regenerate_outputs)
    check_template_syntax(list(tasks.values()), dag, f"{dag.dag_id}.{group_id}")
    return group


def check_template_syntax(tasks: list[BaseOperator], dag: DAG, pipeline_name: str) -> None:
    """Raise `PipelineValidationError` for each templated literal the DAG's Jinja cannot parse.

    Parsing is cheap and done only for literals containing template syntax; rendering (which
    needs a run's context) happens when the task runs.
    """
    from airflow_provider_mlpipe.operators.templating import syntax_problems

    problems = syntax_problems(tasks, dag)  # type: ignore[arg-type]
    if problems:
        raise PipelineValidationError(problems, pipeline_name)


def add_step_tasks(graph: PipelineGraph, regenerate_outputs: bool = False) -> dict[str, BaseOperator]:
    """Create one task per step in the current DAG/task group and wire the edges."""
    tasks: dict[str, BaseOperator] = {}
    for node in graph.nodes:
        task = step_operator(node, {name: tasks[name].task_id for name in node.upstream}, regenerate_outputs)
        if node.upstream:  # one call per task: Airflow's checks run once, not once per edge
            task.set_upstream([tasks[name] for name in node.upstream])
        tasks[node.name] = task
    return tasks


def step_operator(
    node: StepNode, upstream_task_ids: dict[str, str], regenerate_outputs: bool = False
) -> BaseOperator:
    """The operator that runs one step (its kind's, from `node.operator`); inputs name their
    producers' real task ids."""
    inputs = []
    for spec in node.inputs:
        record = dict(spec)
        if "producer" in spec:
            record["producer_task_id"] = upstream_task_ids[spec["producer"]]
        inputs.append(record)
    common: dict[str, Any] = {
        "task_id": node.task_id,
        "step_name": node.name,
        "inputs": inputs,
        "outputs": [dict(o) for o in node.outputs],
        "allow_reuse": node.allow_reuse,
        "step_version": node.version,
        "regenerate_outputs": regenerate_outputs,
    }
    if node.compute_target:
        common["queue"] = node.compute_target
    return import_class(node.operator)(**common, **node.operator_kwargs)

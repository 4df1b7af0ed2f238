"""What each step of a pipeline run did, read from the metadata DB: state, reuse, outputs, metrics.

Shared by the v1 REST routes (`GET /mlpipe/runs/{id}`) and the monitoring page, so both read
a step's XComs the same way. Two queries per call whatever the number of runs (three when a
reused step's run context is read from the run it reused).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mlpipe.contract import (
    METRICS_XCOM_KEY,
    OUTPUTS_XCOM_KEY,
    REUSE_XCOM_KEY,
    RUN_EXTRAS_XCOM_KEY,
)

#: XCom keys a step task pushes: its output records, its reuse decision, its metrics, its run context.
STEP_XCOM_KEYS = (OUTPUTS_XCOM_KEY, REUSE_XCOM_KEY, METRICS_XCOM_KEY, RUN_EXTRAS_XCOM_KEY)


@dataclass
class StepRecord:
    """One step (task instance) of one run, with the XComs it pushed (empty when none).

    `name` is the step's name as written (the task's display name; its task id for a task made
    before step operators recorded it).
    """

    task_id: str
    state: str | None
    name: str = ""
    start_date: Any = None
    end_date: Any = None
    try_number: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    reuse: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: What the script recorded through its run context (tags, images, files); for a reused
    #: step, what the run it reused recorded.
    run_context: dict[str, Any] = field(default_factory=dict)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def step_records(
    session: Any, dag_id: str, run_ids: Iterable[str], with_xcoms: bool = True
) -> dict[str, list[StepRecord]]:
    """{run_id: its steps sorted by task id} for runs of `dag_id`; XComs are read only if `with_xcoms`."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    wanted = list(run_ids)
    steps: dict[str, list[StepRecord]] = {run_id: [] for run_id in wanted}
    if not wanted:
        return steps
    values: dict[tuple[str, str, str], Any] = {}
    if with_xcoms:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id.in_(wanted),
                XComModel.key.in_(STEP_XCOM_KEYS),
            )
        )
        for row in rows:
            values[(row.run_id, row.task_id, row.key)] = XComModel.deserialize_value(row)
    instances = session.scalars(
        select(TaskInstance)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(wanted))
        .order_by(TaskInstance.task_id, TaskInstance.map_index)
    )
    for ti in instances:
        key = (ti.run_id, ti.task_id)
        steps[ti.run_id].append(
            StepRecord(
                task_id=ti.task_id,
                state=None if ti.state is None else str(getattr(ti.state, "value", ti.state)),
                name=ti.task_display_name or ti.task_id,
                start_date=ti.start_date,
                end_date=ti.end_date,
                try_number=ti.try_number or 0,
                outputs=_dict(values.get((*key, OUTPUTS_XCOM_KEY))),
                reuse=_dict(values.get((*key, REUSE_XCOM_KEY))),
                metrics=_dict(values.get((*key, METRICS_XCOM_KEY))),
                run_context=_dict(values.get((*key, RUN_EXTRAS_XCOM_KEY))),
            )
        )
    if with_xcoms:
        _reused_run_contexts(session, [step for found in steps.values() for step in found])
    return steps


def _reused_run_contexts(session: Any, steps: list[StepRecord]) -> None:
    """A reused step shows the run context (images, files, tags) of the run it reused."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import and_, or_, select

    wanted: dict[tuple[str, str, str], list[StepRecord]] = {}
    for step in steps:
        source = step.reuse.get("source") if step.reuse.get("decision") == "hit" else None
        if not step.run_context and isinstance(source, dict) and source.get("task_id"):
            wanted.setdefault((source.get("dag_id"), source.get("run_id"), source["task_id"]), []).append(
                step
            )
    if not wanted:
        return
    rows = session.scalars(
        select(XComModel).where(
            XComModel.key == RUN_EXTRAS_XCOM_KEY,
            or_(
                *(
                    and_(XComModel.dag_id == d, XComModel.run_id == r, XComModel.task_id == t)
                    for d, r, t in wanted
                )
            ),
        )
    )
    for row in rows:
        for step in wanted.get((row.dag_id, row.run_id, row.task_id), []):
            step.run_context = _dict(XComModel.deserialize_value(row))

"""`Schedule` on the embedded local workspace: a notebook schedules a published pipeline, the schedule's
DAG appears with v1's times, and running it submits exactly one run per logical date."""

from __future__ import annotations

import textwrap
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import DeltaTriggerTimetable

from airflow_provider_mlpipe import (
    Pipeline,
    PipelineParameter,
    PipelineRun,
    PublishedPipeline,
    PythonScriptStep,
    Schedule,
    ScheduleRecurrence,
    Workspace,
)
from airflow_provider_mlpipe.exceptions import ApiError
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> str:
    """A published pipeline with a `word` parameter, in the local metadata DB as Airflow would parse it."""
    from airflow_provider_mlpipe.local_submit import _register_dag, ensure_airflow_db

    folder = tmp_path_factory.mktemp("scheduled_src")
    (folder / "echo.py").write_text(textwrap.dedent("import sys\nprint('echo says', sys.argv[1])\n"))
    step = PythonScriptStep(
        "echo.py", name="echo", arguments=[PipelineParameter("word", "hello")], source_directory=str(folder)
    )
    name = f"local_scheduled_{uuid.uuid4().hex[:6]}"
    handle = Pipeline([step]).publish(name, version="1")
    ensure_airflow_db()
    _register_dag(handle.dag)
    return name


def _runs_of(dag_id: str) -> list:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id)).all()
        return [(run.run_id, run.conf) for run in runs]


def _schedule_dag(schedule: Schedule):
    """The schedule's DAG as the provider's DAG file yields it, registered as the dag-processor would."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_mlpipe.local_submit import _register_dag

    bag = DagBag(dag_folder=str(REPO / "dags" / "mlpipe_schedules.py"))
    assert bag.import_errors == {}
    dag = bag.dags[schedule.dag_id]
    _register_dag(dag)
    return dag


def test_a_schedule_made_in_a_notebook_submits_one_run_per_logical_date(published):
    ws = Workspace.local()
    before = datetime.now(timezone.utc).replace(microsecond=0)
    schedule = Schedule.create(
        ws,
        "every other night",
        published,
        "scheduled_exp",
        recurrence=ScheduleRecurrence(frequency="Day", interval=2, hours=[22], minutes=[30]),
        pipeline_parameters={"word": "scheduled"},
    )
    assert schedule.status == "Active" and schedule.pipeline_id == published

    # No start_time: v1 counts from the creation, so the first run is the next 22:30 UTC.
    dag = _schedule_dag(schedule)
    assert dag.timetable == DeltaTriggerTimetable(timedelta(days=2))
    first = before.replace(hour=22, minute=30, second=0)
    assert dag.start_date in (first, first + timedelta(days=1))
    assert dag.catchup is False

    logical_date = dag.start_date + timedelta(days=4)
    dag.test(logical_date=logical_date)
    dag.test(logical_date=logical_date)  # the same logical date again: no second run
    runs = _runs_of(published)
    assert len(runs) == 1
    run_id, conf = runs[0]
    assert run_id == f"mlpipe_schedule__{schedule.id}__{logical_date.isoformat()}"
    assert conf["word"] == "scheduled"
    assert conf["mlpipe"]["schedule_id"] == schedule.id
    assert conf["mlpipe"]["experiment_name"] == "scheduled_exp"

    last = schedule.get_last_pipeline_run()
    assert isinstance(last, PipelineRun) and last.id == run_id and last.pipeline_id == published
    assert last.get_details()["ScheduleId"] == schedule.id
    assert [run.id for run in schedule.get_pipeline_runs()] == [run_id]

    # Another logical date is another run.
    dag.test(logical_date=logical_date + timedelta(days=2))
    assert len(_runs_of(published)) == 2

    # A disabled published pipeline: its schedules submit nothing (v1).
    PublishedPipeline.get(ws, published).disable()
    try:
        dag.test(logical_date=logical_date + timedelta(days=4))
    finally:
        PublishedPipeline.get(ws, published).enable()
    assert len(_runs_of(published)) == 2


def test_get_list_update_and_disable_locally(published):
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    ws = Workspace.local()
    schedule = Schedule.create(ws, "hourly", published, "scheduled_exp", ScheduleRecurrence("Hour", 1))
    _schedule_dag(schedule)
    assert Schedule.get(ws, schedule.id).name == "hourly"
    assert schedule.id in [s.id for s in Schedule.list(ws)]

    schedule.disable()
    assert schedule.status == "Disabled"
    with create_session() as session:
        assert session.get(DagModel, schedule.dag_id).is_paused is True
    assert schedule.id not in [s.id for s in Schedule.list(ws)]
    assert schedule.id in [s.id for s in Schedule.list(ws, active_only=False)]
    assert schedule.id in [s.id for s in Schedule.get_schedules_for_pipeline_id(ws, published)]

    schedule.enable()
    with create_session() as session:
        assert session.get(DagModel, schedule.dag_id).is_paused is False

    schedule.update(
        name="renamed", recurrence=ScheduleRecurrence("Minute", 30), pipeline_parameters={"word": "x"}
    )
    again = Schedule.get(ws, schedule.id)
    assert again.name == "renamed" and again.recurrence.frequency == "Minute"
    assert _schedule_dag(again).dag_display_name == "Schedule renamed"

    with pytest.raises(ApiError, match="has no parameter 'nope'") as error:
        schedule.update(pipeline_parameters={"nope": 1})
    assert error.value.status_code == 400
    with pytest.raises(ApiError, match="no schedule with id") as error:
        Schedule.get(ws, "0" * 32)
    assert error.value.status_code == 404


def test_a_recurrence_airflow_cannot_fire_exactly_is_refused_with_the_reason(published):
    with pytest.raises(ApiError, match="several run times every 2 days"):
        Schedule.create(
            Workspace.local(), "twice", published, "e", ScheduleRecurrence("Day", 2, hours=[1, 13])
        )

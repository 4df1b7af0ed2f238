"""A schedule's snapshot entry -> its DAG: timetable, pause, the submit task and its run ids."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from airflow.sdk import CronTriggerTimetable, DeltaTriggerTimetable

from airflow_provider_mlpipe.contract import SCHEDULE_TAG
from airflow_provider_mlpipe.operators.new_data_runs import NewDataRunsOperator
from airflow_provider_mlpipe.operators.scheduled_submit import ScheduledSubmitOperator, run_key
from airflow_provider_mlpipe.schedule_dags import schedule_dag, schedule_dags

CONF = {"n": 5, "mlpipe": {"experiment_name": "nightly", "schedule_id": "abc123", "run_source": "Schedule"}}


def spec(**changes) -> dict:
    base = {
        "id": "abc123",
        "name": "nightly",
        "status": "Active",
        "pipeline_id": "my_pipeline",
        "pipeline_endpoint_id": None,
        "target": "my_pipeline",
        "target_active": True,
        "problem": None,
        "conf": CONF,
        "note": "a note",
        "recurrence": {
            "frequency": "Day",
            "interval": 2,
            "start_time": "2026-03-10T13:07:45",
            "time_zone": "UTC",
            "hours": [22],
            "minutes": [30],
            "week_days": None,
            "time_of_day": None,
        },
        "datastore_name": None,
        "path_on_datastore": None,
        "polling_interval": None,
        "data_path_parameter_name": None,
    }
    return {**base, **changes}


def test_a_recurrence_becomes_a_dag_with_its_timetable_counted_from_its_start():
    dag = schedule_dag(spec())
    assert dag.dag_id == "mlpipe_schedule__abc123"
    assert dag.dag_display_name == "Schedule nightly"
    assert SCHEDULE_TAG in dag.tags
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is False
    # Every 2 days at 22:30 UTC, from the day the schedule was created (v1 without start_time).
    assert isinstance(dag.timetable, DeltaTriggerTimetable)
    assert dag.timetable == DeltaTriggerTimetable(timedelta(days=2))
    assert dag.start_date == datetime(2026, 3, 10, 22, 30, tzinfo=timezone.utc)


def test_a_recurrence_on_the_clock_grid_is_a_cron_timetable():
    recurrence = {
        **spec()["recurrence"],
        "frequency": "Minute",
        "interval": 15,
        "hours": None,
        "minutes": None,
    }
    recurrence["start_time"] = "2026-03-10T13:07:00"
    dag = schedule_dag(spec(recurrence=recurrence))
    assert dag.timetable == CronTriggerTimetable("7-59/15 * * * *", timezone="UTC")


def test_a_disabled_schedule_is_created_paused():
    assert schedule_dag(spec(status="Disabled")).is_paused_upon_creation is True


def test_the_submit_task_carries_the_schedules_run_and_submits_it_once():
    task = schedule_dag(spec()).get_task("submit")
    assert isinstance(task, ScheduledSubmitOperator)
    assert task.trigger_dag_id == "my_pipeline"
    assert task.conf == CONF
    assert task.note == "a note"
    assert task.skip_when_already_exists is True  # a second try finds its run and makes no other
    assert task.logical_date is None  # like a REST submit
    assert task.openlineage_inject_parent_info is False  # the conf is exactly the schedule's
    assert task.run_id_prefix == "mlpipe_schedule__abc123__"
    assert task.trigger_run_id is None


def test_the_run_id_is_derived_from_the_logical_date_so_it_is_the_same_every_time():
    moment = datetime(2026, 3, 12, 22, 30, tzinfo=timezone.utc)
    one = SimpleNamespace(logical_date=moment, run_id="manual__2026-03-12T22:31:00+00:00")
    again = SimpleNamespace(logical_date=moment, run_id="manual__2026-03-12T22:45:00+00:00")
    later = SimpleNamespace(logical_date=moment + timedelta(days=2), run_id="scheduled__x")
    assert run_key(one) == run_key(again) == "2026-03-12T22:30:00+00:00"
    assert run_key(later) != run_key(one)
    berlin = moment.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert run_key(SimpleNamespace(logical_date=berlin, run_id="x")) == run_key(one)  # always in UTC
    # An asset-triggered run has no logical date: its own run id identifies it.
    assert run_key(SimpleNamespace(logical_date=None, run_id="asset_triggered__1")) == "asset_triggered__1"


def test_a_datastore_schedule_without_a_path_watches_the_whole_datastore():
    dag = schedule_dag(spec(recurrence=None, datastore_name="drop_store", polling_interval=2.5))
    [asset] = dag.timetable.asset_condition.objects
    assert asset.name == "mlpipe_schedule__abc123"
    assert asset.uri == "mlpipe://drop_store/"
    [watcher] = asset.watchers
    assert watcher.trigger.path_on_datastore == ""
    assert watcher.trigger.poll_interval == 150.0
    assert isinstance(dag.get_task("submit"), ScheduledSubmitOperator)


def test_a_datastore_schedule_with_a_data_path_parameter_submits_one_run_per_file():
    dag = schedule_dag(
        spec(
            recurrence=None,
            datastore_name="drop_store",
            path_on_datastore="incoming",
            polling_interval=5,
            data_path_parameter_name="input_path",
        )
    )
    listing = dag.get_task("find_new_files")
    assert isinstance(listing, NewDataRunsOperator)
    assert listing.target_dag_id == "my_pipeline"
    assert listing.run_id_prefix == "mlpipe_schedule__abc123__event"
    assert listing.conf == CONF
    assert dag.get_task("submit").upstream_task_ids == {"find_new_files"}


def test_a_schedule_that_cannot_submit_fails_its_task_saying_why():
    from airflow.exceptions import AirflowException

    task = schedule_dag(spec(problem="no published pipeline 'gone'", target=None)).get_task("submit")
    with pytest.raises(AirflowException, match="no published pipeline 'gone'"):
        task.execute({})


def test_one_broken_schedule_does_not_hide_the_others(caplog):
    broken = spec(id="broken", recurrence={"frequency": "Fortnight", "interval": 1})
    dags = schedule_dags([broken, spec()])
    assert list(dags) == ["mlpipe_schedule__abc123"]
    assert "mlpipe schedule broken" in caplog.text

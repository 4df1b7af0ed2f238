"""`Schedule` (v1's client calls): v1's rules before any request, and what a remote workspace is sent."""

from __future__ import annotations

import textwrap
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_mlpipe import DataPath, Datastore, Schedule, ScheduleRecurrence

RECORD = {
    "Id": "abc",
    "Name": "nightly",
    "Description": None,
    "PipelineId": "my_pipeline",
    "PipelineEndpointId": None,
    "ExperimentName": "exp",
    "Status": "Active",
    "Recurrence": {"frequency": "Hour", "interval": 12, "start_time": None, "time_zone": None, "hours": None,
                   "minutes": None, "week_days": None, "time_of_day": None},
    "DataStoreName": None,
    "PathOnDatastore": None,
    "PollingInterval": None,
    "DataPathParameterName": None,
    "ContinueOnStepFailure": None,
    "ParameterAssignments": {},
    "DataPathAssignments": {},
}  # fmt: skip


class Answer:
    def __init__(self, value: Any) -> None:
        self.value = value

    def json(self) -> Any:
        return self.value


class RemoteWorkspace:
    """Records each request; answers with the schedule record (or what `answers` says for a path)."""

    is_local = False

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.answers = answers or {}

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        self.sent.append((method, path, kwargs))
        return Answer(self.answers.get(path, RECORD))


def test_v1s_rules_are_checked_before_anything_is_sent():
    ws = RemoteWorkspace()
    every_hour = ScheduleRecurrence("Hour", 1)
    with pytest.raises(ValueError, match="not both"):
        Schedule.create(ws, "s", "p", "e", recurrence=every_hour, datastore=Datastore("drop"))
    with pytest.raises(ValueError, match="data_path_parameter_name is only for datastore"):
        Schedule.create(ws, "s", "p", "e", recurrence=every_hour, data_path_parameter_name="x")
    with pytest.raises(ValueError, match="path_on_datastore is only for datastore"):
        Schedule.create(ws, "s", "p", "e", recurrence=every_hour, path_on_datastore="x")
    with pytest.raises(ValueError, match="give a recurrence"):
        Schedule.create(ws, "s", "p", "e")
    assert ws.sent == []


def test_create_sends_v1s_arguments_with_datapaths_apart():
    ws = RemoteWorkspace()
    recurrence = ScheduleRecurrence("Day", 2, hours=[22], minutes=[30])
    schedule = Schedule.create(
        ws,
        "nightly",
        "my_pipeline",
        "exp",
        recurrence,
        "every other night",
        {"n": 3, "data": DataPath(Datastore("drop"), "in/a.csv")},
        continue_on_step_failure=True,
    )
    [(method, path, kwargs)] = ws.sent
    assert (method, path) == ("POST", "/mlpipe/schedules")
    assert kwargs["json"] == {
        "name": "nightly",
        "pipeline_id": "my_pipeline",
        "experiment_name": "exp",
        "description": "every other night",
        "continue_on_step_failure": True,
        "recurrence": {
            "frequency": "Day",
            "interval": 2,
            "start_time": None,
            "time_zone": None,
            "hours": [22],
            "minutes": [30],
            "week_days": None,
            "time_of_day": None,
        },
        "parameter_assignments": {"n": 3},
        "data_path_assignments": {"data": {"DataStoreName": "drop", "RelativePath": "in/a.csv"}},
    }
    assert schedule.id == "abc" and schedule.status == "Active" and schedule.pipeline_id == "my_pipeline"
    assert isinstance(schedule.recurrence, ScheduleRecurrence) and schedule.recurrence.interval == 12
    assert schedule.dag_id == "mlpipe_schedule__abc"


def test_a_datastore_schedule_sends_the_datastore_by_name_and_v1s_default_polling():
    ws = RemoteWorkspace()
    Schedule.create(
        ws, "on-data", "my_pipeline", "exp", datastore=Datastore("drop"), data_path_parameter_name="p"
    )
    body = ws.sent[0][2]["json"]
    assert body["datastore"] == "drop" and body["polling_interval"] == 5
    assert body["data_path_parameter_name"] == "p" and "path_on_datastore" not in body  # the whole datastore


def test_create_for_pipeline_endpoint_sends_the_endpoint():
    ws = RemoteWorkspace()
    Schedule.create_for_pipeline_endpoint(
        ws, "s", "endpoint-id", "exp", recurrence=ScheduleRecurrence("Hour", 1)
    )
    assert ws.sent[0][2]["json"]["pipeline_endpoint_id"] == "endpoint-id"
    assert "pipeline_id" not in ws.sent[0][2]["json"]


def test_get_list_update_enable_disable_and_runs_use_the_schedule_routes():
    runs = {
        "Runs": [
            {
                "Id": "mlpipe_schedule__abc__2026-01-01T00:00:00+00:00",
                "PipelineId": "p",
                "ExperimentName": "exp",
            }
        ]
    }
    ws = RemoteWorkspace({"/mlpipe/schedules": RECORD, "/mlpipe/schedules/abc/runs": runs})
    schedule = Schedule.get(ws, "abc")
    ws.answers["/mlpipe/schedules"] = {"Schedules": [RECORD]}
    assert [s.id for s in Schedule.list(ws, pipeline_id="p")] == ["abc"]
    assert [s.id for s in Schedule.get_schedules_for_pipeline_id(ws, "p")] == ["abc"]
    schedule.update(description="new", pipeline_parameters={"n": 1})
    schedule.disable()
    schedule.enable()
    last = schedule.get_last_pipeline_run()
    assert last.id == runs["Runs"][0]["Id"] and last.pipeline_id == "p" and last.experiment.name == "exp"
    sent = [(method, path, kwargs.get("json"), kwargs.get("params")) for method, path, kwargs in ws.sent]
    assert sent == [
        ("GET", "/mlpipe/schedules/abc", None, None),
        ("GET", "/mlpipe/schedules", None, {"active_only": True, "pipeline_id": "p"}),
        ("GET", "/mlpipe/schedules", None, {"active_only": True, "pipeline_id": "p"}),
        (
            "POST",
            "/mlpipe/schedules/abc/update",
            {"description": "new", "parameter_assignments": {"n": 1}, "data_path_assignments": {}},
            None,
        ),
        ("POST", "/mlpipe/schedules/abc/update", {"status": "Disabled"}, None),
        ("POST", "/mlpipe/schedules/abc/update", {"status": "Active"}, None),
        ("GET", "/mlpipe/schedules/abc/runs", None, {"limit": 1}),
    ]


def test_update_checks_v1s_rules_first():
    ws = RemoteWorkspace()
    schedule = Schedule._of_record(ws, RECORD)
    with pytest.raises(ValueError, match="status must be 'Active' or 'Disabled'"):
        schedule.update(status="Paused")
    changed_after = ScheduleRecurrence("Day", 1)
    changed_after.interval = 0
    with pytest.raises(ValueError, match="interval must be an integer greater than 0"):
        schedule.update(recurrence=changed_after)
    assert ws.sent == []


def test_load_yaml_reads_v1s_schedule_file(tmp_path):
    path = tmp_path / "schedule.yaml"
    path.write_text(
        textwrap.dedent(
            """
            Schedule:
                description: "Test create with recurrence"
                recurrence:
                    frequency: Week
                    interval: 1
                    start_time: 2019-06-07T10:50:00
                    time_zone: UTC
                    hours:
                    - 1
                    minutes:
                    - 0
                    time_of_day: null
                    week_days:
                    - Friday
                pipeline_parameters: {'a': 1}
                wait_for_provisioning: True
                wait_timeout: 3600
                datastore_name: ~
                polling_interval: ~
                data_path_parameter_name: ~
                continue_on_step_failure: None
                path_on_datastore: ~
            """
        )
    )
    found = Schedule.load_yaml(None, str(path))
    recurrence = found["recurrence"]
    assert isinstance(recurrence, ScheduleRecurrence)
    assert (recurrence.frequency, recurrence.week_days, recurrence.hours) == ("Week", ["Friday"], [1])
    assert recurrence.start_time == datetime(2019, 6, 7, 10, 50)
    assert found["pipeline_parameters"] == {"a": 1} and found["description"] == "Test create with recurrence"
    assert found["datastore_name"] is None
    with pytest.raises(ValueError, match="'Schedule:' section"):
        (tmp_path / "bad.yaml").write_text("Other: 1\n")
        Schedule.load_yaml(None, str(tmp_path / "bad.yaml"))


def test_get_all_is_lists_older_name_and_says_so():
    ws = RemoteWorkspace({"/mlpipe/schedules": {"Schedules": [RECORD]}})
    with pytest.warns(DeprecationWarning, match="use Schedule.list"):
        assert [s.id for s in Schedule.get_all(ws, active_only=False)] == ["abc"]
    assert ws.sent[0][2]["params"] == {"active_only": False}

"""Schedules in the metadata DB (the test home's SQLite): v1's rules, the anchor, the snapshot Variable."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep
from airflow_provider_mlpipe import schedules_db as store
from airflow_provider_mlpipe.contract import SCHEDULES_VARIABLE
from airflow_provider_mlpipe.schedules_db import ScheduleError

DAY_AT_2230 = {"frequency": "Day", "interval": 2, "hours": [22], "minutes": [30]}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> str:
    """A published pipeline (int parameter `n`) registered in the test home's DB."""
    from airflow_provider_mlpipe.local_submit import _register_dag, ensure_airflow_db

    folder = tmp_path_factory.mktemp("scheduled")
    (folder / "noop.py").write_text("print('noop')\n")
    step = PythonScriptStep(
        "noop.py", name="noop", arguments=["--n", PipelineParameter("n", 1)], source_directory=str(folder)
    )
    name = f"sched_pub_{uuid.uuid4().hex[:6]}"
    handle = Pipeline([step]).publish(name, version="3")
    ensure_airflow_db()
    _register_dag(handle.dag)
    return name


def body(pipeline: str, **changes) -> dict:
    return {"name": "nightly", "pipeline_id": pipeline, "experiment_name": "nightly_exp",
            "recurrence": DAY_AT_2230, **changes}  # fmt: skip


def snapshot() -> dict:
    from airflow.models.variable import Variable

    return {s["id"]: s for s in json.loads(Variable.get(SCHEDULES_VARIABLE))["schedules"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"datastore": "drop_store"}, "a recurrence or a datastore, not both"),
        ({"recurrence": None}, "give a recurrence (a time schedule) or a datastore"),
        ({"path_on_datastore": "in"}, "path_on_datastore is only for datastore schedules"),
        ({"data_path_parameter_name": "p"}, "data_path_parameter_name is only for datastore schedules"),
        ({"experiment_name": "bad name!"}, "experiment_name is required"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"pipeline_endpoint_id": "ep"}, "exactly one of pipeline_id and pipeline_endpoint_id"),
        ({"recurrence": {"frequency": "Minute", "interval": 1, "hours": [1]}}, "hours can only be specified"),
        ({"recurrence": {"frequency": "Day"}}, "frequency and interval are required"),
        ({"recurrence": {"frequency": "Day", "interval": 1, "every": 2}}, "unknown field(s) ['every']"),
        ({"recurrence": {"frequency": "Day", "interval": 1, "hours": [{}]}}, "hours"),
        ({"recurrence": {"frequency": "Minute", "interval": 2**70}}, "recurrence"),
        ({"unknown": 1}, "unknown field(s) ['unknown']"),
        ({"parameter_assignments": [1]}, "parameter_assignments must be an object"),
    ],
)
def test_v1s_rules_refuse_a_schedule_naming_the_field(published, changes, message):
    with pytest.raises(ScheduleError) as error:
        store.create(
            {k: v for k, v in body(published, **changes).items() if v is not None or k != "recurrence"}
        )
    assert message in str(error.value)
    assert error.value.status_code == 400


def test_a_datastore_schedule_needs_a_positive_polling_interval(published):
    for value in (0, -1, True, "5", 10**9):
        with pytest.raises(ScheduleError, match="polling_interval must be a number of minutes"):
            store.create(body(published, recurrence=None, datastore="drop_store", polling_interval=value))


def test_a_parameter_the_pipeline_does_not_have_is_refused_as_a_submit_would(published):
    with pytest.raises(ScheduleError, match="has no parameter 'm'"):
        store.create(body(published, parameter_assignments={"m": 1}))
    with pytest.raises(ScheduleError, match="'n' must be of type integer"):
        store.create(body(published, parameter_assignments={"n": "five"}))


def test_an_unknown_pipeline_is_404():
    with pytest.raises(ScheduleError, match="no published pipeline 'no_such_pipeline'") as error:
        store.create(body("no_such_pipeline"))
    assert error.value.status_code == 404


def test_without_start_time_a_recurrence_counts_from_its_anchor():
    anchor = datetime(2026, 3, 10, 13, 7, 45, tzinfo=timezone.utc)
    recurrence = store.effective_recurrence({**dict.fromkeys(store.RECURRENCE_FIELDS), **DAY_AT_2230}, anchor)
    runs = recurrence.next_runs(3, anchor)
    assert [r.astimezone(timezone.utc).isoformat() for r in runs] == [
        "2026-03-10T22:30:00+00:00",
        "2026-03-12T22:30:00+00:00",
        "2026-03-14T22:30:00+00:00",
    ]
    # A time zone given: the anchor is read in it.
    tokyo = store.effective_recurrence(
        {
            **dict.fromkeys(store.RECURRENCE_FIELDS),
            "frequency": "Hour",
            "interval": 1,
            "time_zone": "Tokyo Standard Time",
        },
        anchor,
    )
    assert tokyo.start_time == "2026-03-10T22:07:45"
    # A start_time given is kept.
    given = {**dict.fromkeys(store.RECURRENCE_FIELDS), **DAY_AT_2230, "start_time": "2027-01-01T00:00:00"}
    assert store.effective_recurrence(given, anchor).start_time == "2027-01-01T00:00:00"


def test_create_stores_the_row_checks_the_conf_and_writes_the_snapshot(published):
    record = store.create(
        body(published, parameter_assignments={"n": 5}, description="every other night"), "alice"
    )
    assert record["Status"] == "Active" and record["PipelineId"] == published
    assert record["Recurrence"]["hours"] == [22] and record["Recurrence"]["start_time"] is None
    assert record["DagId"] == f"mlpipe_schedule__{record['Id']}"
    assert store.get(record["Id"]) == record
    entry = snapshot()[record["Id"]]
    assert entry["target"] == published and entry["problem"] is None
    assert entry["conf"]["n"] == 5
    assert entry["conf"]["mlpipe"]["schedule_id"] == record["Id"]
    assert entry["conf"]["mlpipe"]["experiment_name"] == "nightly_exp"
    assert entry["conf"]["mlpipe"]["description"] == "every other night"
    assert entry["conf"]["mlpipe"]["pipeline_version"] == "3"
    # v1: without start_time the recurrence counts from the creation.
    assert entry["recurrence"]["start_time"] == record["CreatedTime"][:19]
    assert entry["recurrence"]["time_zone"] == "UTC"


def test_list_update_enable_disable(published):
    first = store.create(body(published, name="one"))
    second = store.create(body(published, name="two"))
    ids = {first["Id"], second["Id"]}
    store.update_schedule(second["Id"], {"status": "Disabled"})
    active = {r["Id"] for r in store.list_records()}
    assert first["Id"] in active and second["Id"] not in active
    assert ids <= {r["Id"] for r in store.list_records(active_only=False)}
    # v1: by pipeline, every schedule of it (active_only does not apply).
    assert ids <= {r["Id"] for r in store.list_records(True, pipeline_id=published)}
    assert snapshot()[second["Id"]]["status"] == "Disabled"

    changed = store.update_schedule(first["Id"], {"name": "renamed", "parameter_assignments": {"n": 9}})
    assert changed["Name"] == "renamed" and changed["ParameterAssignments"] == {"n": 9}
    assert changed["Recurrence"] == first["Recurrence"]
    assert snapshot()[first["Id"]]["conf"]["n"] == 9
    with pytest.raises(ScheduleError, match="cannot get a recurrence"):
        store.update_schedule(
            store.create(body(published, recurrence=None, datastore="x"))["Id"], {"recurrence": DAY_AT_2230}
        )
    with pytest.raises(ScheduleError, match="status must be 'Active' or 'Disabled'"):
        store.update_schedule(first["Id"], {"status": "Paused"})
    with pytest.raises(ScheduleError) as error:
        store.update_schedule("nope", {"status": "Active"})
    assert error.value.status_code == 404


def test_a_new_recurrence_counts_from_its_change(published):
    record = store.create(body(published))
    changed = store.update_schedule(record["Id"], {"recurrence": {"frequency": "Hour", "interval": 3}})
    assert changed["AnchorTime"] >= record["AnchorTime"]
    assert snapshot()[record["Id"]]["recurrence"]["start_time"] == changed["AnchorTime"][:19]


def test_a_datastore_schedule_without_a_path_watches_the_whole_datastore(published):
    record = store.create(body(published, recurrence=None, datastore="drop_store"))
    assert record["PathOnDatastore"] is None and record["PollingInterval"] == 5
    entry = snapshot()[record["Id"]]
    assert entry["recurrence"] is None and entry["datastore_name"] == "drop_store"


def test_a_schedule_whose_pipeline_is_gone_keeps_its_entry_with_the_problem(published):
    from sqlalchemy import update

    record = store.create(body(published))
    with store.ensure_tables().begin() as conn:
        conn.execute(
            update(store.SCHEDULES).where(store.SCHEDULES.c.id == record["Id"]).values(pipeline_id="gone")
        )
        store.publish_snapshot(conn)
    assert "no published pipeline 'gone'" in snapshot()[record["Id"]]["problem"]
    # It can still be disabled (a status change checks no pipeline).
    assert store.update_schedule(record["Id"], {"status": "Disabled"})["Status"] == "Disabled"


def test_concurrent_creations_all_reach_the_snapshot(published):
    import threading

    made: list[str] = []
    errors: list[BaseException] = []

    def make(index: int) -> None:
        try:
            made.append(store.create(body(published, name=f"concurrent_{index}"))["Id"])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=make, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(made) <= set(snapshot())


def test_an_endpoint_schedule_submits_the_endpoints_default_version(published):
    from airflow_provider_mlpipe import endpoints_db

    endpoint = endpoints_db.create(f"sched_ep_{uuid.uuid4().hex[:6]}", None, published)
    record = store.create(
        {**body(published), "pipeline_id": None, "pipeline_endpoint_id": endpoint["name"]}
    )  # by name: kept as the endpoint's id
    assert record["PipelineEndpointId"] == endpoint["id"] and record["PipelineId"] is None
    assert snapshot()[record["Id"]]["target"] == published
    assert [r["Id"] for r in store.list_records(pipeline_endpoint_id=endpoint["id"])] == [record["Id"]]

    endpoints_db.add_version(endpoint["id"], "another_pipeline", True)
    store.endpoint_changed(endpoint["id"])
    entry = snapshot()[record["Id"]]
    assert entry["target"] == "another_pipeline"  # the new default, which Airflow does not know here
    assert "no published pipeline 'another_pipeline'" in entry["problem"]

    endpoints_db.set_default(endpoint["id"], version="0")
    endpoints_db.change(endpoint["id"], "disable", status="Disabled")
    store.endpoint_changed(endpoint["id"])
    entry = snapshot()[record["Id"]]
    assert entry["target"] == published and entry["target_active"] is False and entry["problem"] is None


def test_changing_an_endpoint_through_pipeline_endpoint_moves_its_schedules(published):
    """`PipelineEndpoint`'s own changes refresh its schedules' snapshot (no explicit call)."""
    from airflow_provider_mlpipe import PipelineEndpoint, Workspace, endpoints_db

    endpoint = endpoints_db.create(f"sched_ep_{uuid.uuid4().hex[:6]}", None, published)
    record = store.create({**body(published), "pipeline_id": None, "pipeline_endpoint_id": endpoint["id"]})
    endpoints_db.add_version(endpoint["id"], "another_pipeline", False)
    handle = PipelineEndpoint.get(Workspace.local(), id=endpoint["id"])
    handle.set_default_version("1")
    assert snapshot()[record["Id"]]["target"] == "another_pipeline"
    handle.set_default_version("0")
    assert snapshot()[record["Id"]]["target"] == published
    handle.disable()
    assert snapshot()[record["Id"]]["target_active"] is False

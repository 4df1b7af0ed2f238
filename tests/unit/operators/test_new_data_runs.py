"""A datastore schedule with `data_path_parameter_name`: the dispatcher DAG and the runs it lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.definitions._internal.contextmanager import DagContext

from airflow_provider_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Datastore,
    DatastoreSchedule,
    Pipeline,
    PipelineParameter,
    PipelineValidationError,
    PythonScriptStep,
    datastore_schedule,
)
from airflow_provider_mlpipe.operators.new_data_runs import NewDataRunsOperator, changed_file

STORE = Datastore("drop_store")


def pipeline(tmp_path) -> Pipeline:
    (tmp_path / "count.py").write_text("print('counted')\n")
    data = PipelineParameter("input_path", default_value=DataPath(STORE, "incoming/none.csv"))
    step = PythonScriptStep(
        "count.py",
        name="count",
        source_directory=str(tmp_path),
        arguments=["--data", data, "--n", PipelineParameter("n", 1)],
        inputs=[(data, DataPathComputeBinding(mode="download"))],
    )
    return Pipeline([step])


def schedule(parameter: str = "input_path") -> DatastoreSchedule:
    made = datastore_schedule(STORE, "incoming", polling_interval=1, data_path_parameter_name=parameter)
    assert isinstance(made, DatastoreSchedule)
    return made


def test_the_pipeline_dag_gets_a_dispatcher_scheduled_on_the_asset(tmp_path):
    DagContext.autoregistered_dags.clear()
    DagContext.current_autoregister_module_name = __name__
    try:
        dag = pipeline(tmp_path).publish("count_new", schedule=schedule()).dag
        registered = {d.dag_id: d for d, _module in DagContext.autoregistered_dags}
    finally:
        DagContext.current_autoregister_module_name = None
        DagContext.autoregistered_dags.clear()
    assert type(dag.timetable).__name__ == "NullTimetable"  # its runs are started one per file
    dispatcher = registered["count_new__on_new_data"]
    assert set(registered) == {"count_new", "count_new__on_new_data"}
    assert [a.uri for a in dispatcher.timetable.asset_condition.objects] == ["mlpipe://drop_store/incoming"]
    find = dispatcher.get_task("find_new_files")
    assert isinstance(find, NewDataRunsOperator)
    assert (find.target_dag_id, find.data_path_parameter_name) == ("count_new", "input_path")
    assert [a.uri for a in find.inlets] == ["mlpipe://drop_store/incoming"]
    start = dispatcher.get_task("start_pipeline_run")
    assert start.partial_kwargs["trigger_dag_id"] == "count_new"
    assert start.partial_kwargs["skip_when_already_exists"] is True
    assert "mlpipe:published" not in dispatcher.tags
    # Published active, like the pipeline: a paused dispatcher would start nothing.
    assert dag.is_paused_upon_creation is False and dispatcher.is_paused_upon_creation is False


@pytest.mark.parametrize(
    ("parameter", "problem"),
    [
        ("nope", "data_path_parameter_name 'nope' is not a parameter of this pipeline"),
        ("n", "data_path_parameter_name 'n' is not a DataPath parameter of this pipeline"),
    ],
)
def test_the_parameter_must_be_a_data_path_parameter_of_the_pipeline(tmp_path, parameter, problem):
    with pytest.raises(PipelineValidationError, match=problem) as raised:
        pipeline(tmp_path).to_dag("count_new", schedule=schedule(parameter))
    assert "(its DataPath parameters: input_path)" in str(raised.value)


def test_it_must_be_the_only_schedule(tmp_path):
    other = datastore_schedule(STORE, "elsewhere")
    with pytest.raises(PipelineValidationError, match="must be the only schedule"):
        pipeline(tmp_path).to_dag("count_new", schedule=[schedule(), other])
    with pytest.raises(ValueError, match="data_path_parameter_name must be the name"):
        datastore_schedule(STORE, "incoming", data_path_parameter_name="")


@dataclass
class Event:
    id: int
    extra: Any


@dataclass
class Events:
    """Stands in for Airflow's InletEventsAccessor: newest first after `ascending(False)`."""

    events: list[Event]
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def ascending(self, ascending: bool) -> Events:
        self.calls.append(("ascending", ascending))
        return self

    def limit(self, limit: int) -> Events:
        self.calls.append(("limit", limit))
        return self

    def __iter__(self):
        return iter(sorted(self.events, key=lambda e: -e.id))


class TaskInstance:
    def __init__(self, existing: set[str]) -> None:
        self.existing = existing

    def get_dr_count(self, dag_id: str, run_ids: list[str]) -> int:
        assert dag_id == "count_new"
        return sum(run_id in self.existing for run_id in run_ids)


def file_event(event_id: int, path: str) -> Event:
    payload = {"datastore": "drop_store", "path_on_datastore": path, "identity": "x", "change": "new"}
    return Event(event_id, {"from_trigger": True, "payload": payload})


def test_one_run_per_event_that_has_none_yet_oldest_first():
    asset = schedule().asset
    operator = NewDataRunsOperator(
        task_id="find_new_files",
        asset=asset,
        target_dag_id="count_new",
        data_path_parameter_name="input_path",
    )
    events = Events(
        [
            file_event(7, "incoming/b.csv"),
            file_event(5, "incoming/a.csv"),
            Event(6, {"note": "posted by hand"}),  # not from the watcher: names no file
            file_event(9, "incoming/a.csv"),  # a.csv changed again: a run of its own
        ]
    )
    context = {"inlet_events": {asset: events}, "ti": TaskInstance(existing={"datastore__7"})}
    assert operator.execute(context) == [
        {
            "trigger_run_id": "datastore__5",
            "conf": {"input_path": {"datastore": "drop_store", "path_on_datastore": "incoming/a.csv"}},
        },
        {
            "trigger_run_id": "datastore__9",
            "conf": {"input_path": {"datastore": "drop_store", "path_on_datastore": "incoming/a.csv"}},
        },
    ]
    assert events.calls == [("ascending", False), ("limit", 500)]
    context["ti"] = TaskInstance(existing={"datastore__5", "datastore__7", "datastore__9"})
    assert operator.execute(context) == []


@pytest.mark.parametrize(
    "extra",
    [
        None,
        {},
        {"payload": "x"},
        {"payload": {"datastore": "d"}},
        {"payload": {"datastore": 1, "path_on_datastore": "p"}},
    ],
)
def test_events_that_name_no_file_are_not_ours(extra):
    assert changed_file(extra) is None

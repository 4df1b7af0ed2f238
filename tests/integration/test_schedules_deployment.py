"""`Schedule` against a real deployment: made from a remote workspace, fired by the scheduler, never
twice for one time (also across a scheduler restart), stopped by `disable`; edit rights are needed."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from airflow_provider_mlpipe import Schedule, ScheduleRecurrence, Workspace
from airflow_provider_mlpipe.exceptions import ApiError
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "mlpipe_scheduled_remote"
DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep

step = PythonScriptStep(
    "noop.py", name="noop", arguments=["--n", PipelineParameter("n", 1)], source_directory="{PIPELINE}_src",
    allow_reuse=False,
)
dag = Pipeline([step]).publish("{PIPELINE}", description="scheduled from a notebook", version="1")
"""
NOOP = "import sys\nprint('noop', sys.argv)\n"


@pytest.fixture(scope="module")
def deployment(airflow_deployment):
    airflow_deployment.write_dag(PIPELINE, DAG_FILE, {"noop.py": NOOP})
    airflow_deployment.write_dag("mlpipe_schedules", (REPO / "dags" / "mlpipe_schedules.py").read_text())
    airflow_deployment.wait_for_dag(PIPELINE, timeout=180)
    return airflow_deployment


def _wait(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s")
        time.sleep(2)


def _times(schedule: Schedule) -> list[datetime]:
    """The logical dates (from the run ids) of the pipeline runs the schedule submitted, oldest first."""
    prefix = f"mlpipe_schedule__{schedule.id}__"
    runs = schedule.get_pipeline_runs()
    assert all(run.id.startswith(prefix) for run in runs)
    return sorted(datetime.fromisoformat(run.id[len(prefix) :]) for run in runs)


def test_a_remote_schedule_fires_once_per_minute_survives_a_restart_and_stops_when_disabled(deployment):
    ws = Workspace.connect(deployment.url, username="admin", password="admin")
    schedule = Schedule.create(
        ws,
        "every minute",
        PIPELINE,
        "scheduled_remote",
        recurrence=ScheduleRecurrence(frequency="Minute", interval=1),
        pipeline_parameters={"n": 3},
        wait_for_provisioning=True,
        wait_timeout=120,
    )
    assert schedule.status == "Active"
    # v1 runs a recurrence without start_time at once, then every minute.
    _wait("no run of the schedule", lambda: schedule.get_last_pipeline_run() is not None, 120)
    last = schedule.get_last_pipeline_run()
    details = last.get_details()
    assert details["PipelineId"] == PIPELINE and details["ScheduleId"] == schedule.id
    assert details["ExperimentName"] == "scheduled_remote"
    assert details["ParameterAssignments"]["n"] == 3
    _wait("no second run", lambda: len(_times(schedule)) >= 2, 150)

    deployment.restart("scheduler")
    count = len(_times(schedule))
    _wait("no run after the scheduler restarted", lambda: len(_times(schedule)) > count, 150)
    times = _times(schedule)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap.total_seconds() >= 59 for gap in gaps), f"two runs for one time: {times}"

    schedule.disable()
    assert Schedule.get(ws, schedule.id).status == "Disabled"
    time.sleep(10)  # a run the scheduler had already started may still submit
    stopped = len(_times(schedule))
    time.sleep(75)
    assert len(_times(schedule)) == stopped
    assert schedule.id not in [s.id for s in Schedule.list(ws)]
    assert schedule.id in [s.id for s in Schedule.list(ws, pipeline_id=PIPELINE)]


def test_making_a_schedule_needs_edit_rights_on_the_pipeline(deployment):
    viewer = Workspace.connect(deployment.url, username="viewer", password="viewer")
    with pytest.raises(ApiError) as error:
        Schedule.create(viewer, "nope", PIPELINE, "e", recurrence=ScheduleRecurrence("Hour", 1))
    assert error.value.status_code == 403
    admin = Workspace.connect(deployment.url, username="admin", password="admin")
    with pytest.raises(ApiError) as error:
        Schedule.create(
            admin, "nope", PIPELINE, "e", ScheduleRecurrence("Hour", 1), pipeline_parameters={"x": 1}
        )
    assert error.value.status_code == 400 and "has no parameter 'x'" in str(error.value)
    with pytest.raises(ApiError) as error:
        Schedule.get(admin, "f" * 32)
    assert error.value.status_code == 404


PROBE = "mlpipe_schedules_parse_probe"
PROBE_FILE = f"""
import time

started = time.perf_counter()
from airflow_provider_mlpipe.schedule_dags import read_snapshot, schedule_dags

imported = time.perf_counter()
specs = read_snapshot()
read = time.perf_counter()
dags = schedule_dags(specs)
built = time.perf_counter()

from airflow.sdk import DAG

timing = f"import={{imported - started:.4f}} read={{read - imported:.4f}} build={{built - read:.4f}} dags={{len(dags)}}"
with DAG("{PROBE}", schedule=None, description=timing):
    pass
"""


def test_the_schedule_dag_source_costs_one_variable_read_in_the_dag_processor(deployment):
    """What parsing the schedules' DAG file costs where Airflow parses it (the dag-processor's child)."""
    ws = Workspace.connect(deployment.url, username="admin", password="admin")
    future = ScheduleRecurrence("Day", 1, start_time="2030-01-01T00:00:00", time_zone="UTC")
    for index in range(20):
        Schedule.create(ws, f"future {index}", PIPELINE, "probe", recurrence=future)
    deployment.write_dag(PROBE, PROBE_FILE)
    try:
        timings = []

        def sampled() -> bool:
            description = deployment.wait_for_dag(PROBE, timeout=120)["description"] or ""
            if description not in timings and "dags=" in description:
                timings.append(description)
            return len(timings) >= 3

        _wait("no probe parses", sampled, 180)
    finally:
        (deployment.dags_folder / f"{PROBE}.py").unlink()
    print("\nschedule DAG source in the dag-processor:", *timings, sep="\n  ")
    for timing in timings:
        values = dict(item.split("=") for item in timing.split())
        assert float(values["read"]) < 2.0, timing  # measured 0.03-0.09 s (0.16-0.33 s on a loaded machine)

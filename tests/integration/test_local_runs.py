"""Local runs of a notebook's pipeline (`Experiment(name).submit(pipeline)`): submit returns at once,
`wait_for_completion` streams each step's own lines while it runs, `StepRun.get_log()` reads the
step's log, `PipelineRun.cancel()` stops the run, its scripts and later steps."""

from __future__ import annotations

import contextlib
import json
import textwrap
from pathlib import Path

import pytest

from airflow_provider_mlpipe import (
    DatabricksStep,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineRun,
    PythonScriptStep,
)
from tests.integration.live_runs import (
    AFTER_SCRIPT,
    BOOKKEEPING,
    GATED_SCRIPT,
    LOOP_SCRIPT,
    PREPARE,
    GatedOutput,
    loop_pids,
    running,
    wait_for,
)

pytestmark = pytest.mark.integration


def source_folder(tmp_path: Path, scripts: dict[str, str]) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name, text in scripts.items():
        (source / name).write_text(textwrap.dedent(text))
    return source


def step_log(run: PipelineRun, name: str) -> str:
    """The step's log; empty while the run or the step has not started."""
    return "".join(step.get_log() for step in run.find_step_run(name))


def airflow_log_reader_text(dag_id: str, run_id: str, task_id: str) -> str:
    """The task's log as Airflow's own log reader (the UI's and the API's) finds it on this machine."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )
        lines, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
        return "\n".join(str(getattr(line, "event", line)) for line in lines)


def test_wait_for_completion_prints_a_steps_lines_while_it_runs(tmp_path):
    source = source_folder(tmp_path, {"gated.py": GATED_SCRIPT})
    gate = tmp_path / "gate"
    step = PythonScriptStep(
        "gated.py", name="gated", arguments=[str(gate)], source_directory=str(source), allow_reuse=False
    )
    run = Experiment("streaming").submit(Pipeline([step]))
    output = GatedOutput(gate)
    with contextlib.redirect_stdout(output):
        status = run.wait_for_completion(show_output=True, poll_interval=0.2)
    printed = output.getvalue()

    assert status == "Finished", printed
    # The script could only print its second line after the client had printed its first one.
    assert "first line of the gated step" in output.printed_before_gate, printed
    assert "second line of the gated step" not in output.printed_before_gate
    assert "second line of the gated step" in printed and "the gate never opened" not in printed
    assert "Reuse: MISS (allow_reuse=False)" in printed
    assert "StepRun(gated) Status: Finished, Reuse: ran" in printed
    assert not [line for line in BOOKKEEPING if line in printed], printed

    [gated] = run.find_step_run("gated")
    log = gated.get_log()
    assert "first line of the gated step" in log and "second line of the gated step" in log
    assert not [line for line in BOOKKEEPING if line in log], log
    assert "Pushing xcom" in gated.get_log(full=True)
    assert "second line of the gated step" in airflow_log_reader_text(run.pipeline_id, run.id, "gated")

    run.cancel()  # an ended run stays as it ended
    assert run.get_status() == "Finished"


def test_cancel_kills_the_running_script_and_starts_no_further_step(tmp_path):
    source = source_folder(tmp_path, {"loop.py": LOOP_SCRIPT, "after.py": AFTER_SCRIPT})
    marker, after_marker = tmp_path / "loop.txt", tmp_path / "after.txt"
    loop = PythonScriptStep(
        "loop.py", name="loop", arguments=[str(marker), 300], source_directory=str(source), allow_reuse=False
    )
    after = PythonScriptStep(
        "after.py",
        name="after",
        arguments=[str(after_marker)],
        source_directory=str(source),
        allow_reuse=False,
    )
    after.run_after(loop)
    run = Experiment("cancel").submit(Pipeline([after]))
    wait_for(lambda: loop_pids(marker), 180, "the loop step to start ticking")
    pids = loop_pids(marker)
    assert all(running(pid) for pid in pids)

    run.cancel()

    assert not [pid for pid in pids if running(pid)], "the script's process tree survived the cancel"
    assert not after_marker.exists(), "a step started after the cancel"
    assert run.get_status() == "Canceled"
    assert {step.name: step.status for step in run.get_steps()} == {"loop": "Canceled", "after": "Canceled"}
    [loop_run] = run.find_step_run("loop")
    log = loop_run.get_log()
    assert "Run canceled: stopping step 'loop'" in log and "killing the script's process tree" in log
    assert not [line for line in BOOKKEEPING if line in log], log

    again = PipelineRun(Experiment("cancel"), run.id)  # another process re-attaching
    again.cancel()
    assert again.get_status() == "Canceled"


def test_cancel_of_a_deferred_databricks_step_cancels_its_run(tmp_path, databricks_standin, monkeypatch):
    connection = {
        "conn_type": "databricks",
        "host": databricks_standin.url,
        "password": databricks_standin.token,
    }
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(connection))  # the runner inherits these
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    monkeypatch.setenv("AIRFLOW__MLPIPE__DATABRICKS_POLL_SECONDS", "0.2")
    source = source_folder(tmp_path, {"job.py": "print('job')\n"})
    step = DatabricksStep(
        name="remote",
        python_script_name="job.py",
        source_directory=str(source),
        python_script_params=["--hang"],
        existing_cluster_id="cluster-1",
        allow_reuse=False,
    )
    run = Experiment("cancel_databricks").submit(Pipeline([step]))
    # dag.test() runs a deferred step's trigger in line; the trigger's polls are in the step's log.
    wait_for(lambda: "is RUNNING" in step_log(run, "remote"), 180, "the trigger to poll")
    [databricks_run] = list(databricks_standin.runs)

    run.cancel()

    record = databricks_standin.wait_until_state(databricks_run, "TERMINATED", timeout=60)
    assert record.state["result_state"] == "CANCELED"
    assert run.get_status() == "Canceled"
    assert [step.status for step in run.get_steps()] == ["Canceled"]
    assert f"cancelling Databricks run {databricks_run}" in step_log(run, "remote")


def test_cancel_before_the_first_step_runs_nothing(tmp_path):
    source = source_folder(tmp_path, {"after.py": AFTER_SCRIPT})
    marker = tmp_path / "after.txt"
    step = PythonScriptStep("after.py", name="only", arguments=[str(marker)], source_directory=str(source))
    run = Experiment("cancel_early").submit(Pipeline([step]))
    run.cancel()
    assert run.get_status() == "Canceled"
    assert run.wait_for_completion(show_output=False) == "Canceled"
    assert not marker.exists()


def test_local_experiment_runs_a_notebook_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__MLPIPE__EMBEDDED_ROOT", str(tmp_path / "datastore"))
    source = source_folder(tmp_path, {"prepare.py": PREPARE})
    data = PipelineData("data")
    step = PythonScriptStep(
        "prepare.py",
        name="prepare",
        arguments=["--n", 3, "--out", data],
        outputs=[data],
        source_directory=str(source),
    )
    run = Experiment("local").submit(Pipeline([step]))
    assert run.is_local and run.get_status() in ("NotStarted", "Running")  # submit returns at once
    assert run.wait_for_completion(show_output=False) == "Finished"
    [prepare] = run.find_step_run("prepare")
    assert prepare.status == "Finished"
    assert "prepare wrote 3 numbers" in prepare.get_log()
    data = prepare.get_output_data("data")
    assert data.download(tmp_path / "out", show_progress=False) == 1  # v1: the number of files copied
    local = tmp_path / "out" / data.path_on_datastore
    assert (local / "numbers.txt").read_text() == "0,1,2"

"""The Databricks Jobs API stand-in, driven over HTTP by the REAL databricks-sdk `WorkspaceClient`.

databricks-sdk is imported inside the tests: the project bans it at module level (see pyproject.toml).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

if TYPE_CHECKING:  # imported by pytest_plugins first, so pytest rewrites its asserts
    from tests.services.databricks_standin import DatabricksStandIn

pytest_plugins = ["tests.services.databricks_standin"]  # the `databricks_standin` fixture

WRITE_ARGV = """
import sys
from pathlib import Path
Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
with open(sys.argv[1], "a") as out:
    out.write(sys.argv[2] + "\\n")
print("wrote", sys.argv[1])
"""

FAIL = """
import sys
print("about to fail", file=sys.stderr)
raise ValueError("boom: bad input " + sys.argv[1])
"""

SLEEP_WITH_PIDFILE = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(60)
"""


def client(standin: DatabricksStandIn, **overrides: Any):
    """A real WorkspaceClient built exactly as production code is told to build it."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    options = {
        "host": standin.url,
        "token": standin.token,
        "auth_type": "pat",
        "retry_timeout_seconds": 10,
        "http_timeout_seconds": 5,
    }
    return WorkspaceClient(config=Config(**{**options, **overrides}))


def python_task(python_file: str, *parameters: str, **task: Any):
    from databricks.sdk.service import jobs

    return jobs.SubmitTask(
        task_key="t",
        existing_cluster_id="c",
        spark_python_task=jobs.SparkPythonTask(python_file=python_file, parameters=list(parameters)),
        **task,
    )


def notebook_task(**base_parameters: str):
    from databricks.sdk.service import jobs

    return jobs.SubmitTask(
        task_key="nb",
        existing_cluster_id="c",
        notebook_task=jobs.NotebookTask(notebook_path="/Users/me/nb", base_parameters=base_parameters),
    )


def jar_task(*parameters: str):
    from databricks.sdk.service import jobs

    return jobs.SubmitTask(
        task_key="jar",
        existing_cluster_id="c",
        spark_jar_task=jobs.SparkJarTask(main_class_name="Main", parameters=list(parameters)),
    )


def poll_until_terminated(w, run_id: int, timeout: float = 10.0, seen: list[str] | None = None):
    """Poll runs/get ourselves (`.result()` sleeps whole seconds and returns normally for FAILED runs)."""
    deadline = time.monotonic() + timeout
    while True:
        run = w.jobs.get_run(run_id)
        if seen is not None:
            seen.append(run.state.life_cycle_state.value)
        if run.state.life_cycle_state.value == "TERMINATED":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.state} after {timeout} s"
        time.sleep(0.05)


def write_script(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(source)
    return path


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text()


@pytest.mark.parametrize("style", ["file_uri", "dbfs", "plain_path"])
def test_python_task_really_runs_the_file_and_succeeds(
    databricks_standin: DatabricksStandIn, tmp_path: Path, style: str
) -> None:
    if style == "dbfs":
        write_script(databricks_standin.dbfs_root / "scripts", "write.py", WRITE_ARGV)
        python_file = "dbfs:/scripts/write.py"
    else:
        script = write_script(tmp_path / "src", "write.py", WRITE_ARGV)
        python_file = f"file:{script}" if style == "file_uri" else str(script)
    target = tmp_path / "out" / "result.txt"
    w = client(databricks_standin)

    waiter = w.jobs.submit(
        run_name="write",
        tasks=[python_task(python_file, str(target), "hello")],
        idempotency_token=f"tok-{style}",
    )
    seen: list[str] = []
    run = poll_until_terminated(w, waiter.run_id, seen=seen)

    assert run.state.result_state.value == "SUCCESS"
    assert seen[0] == "RUNNING"
    assert target.read_text() == "hello\n"
    assert run.run_page_url == f"{databricks_standin.url}/#job/runs/{waiter.run_id}"
    assert run.run_name == "write"
    [task] = run.tasks
    assert task.task_key == "t" and task.run_id != run.run_id
    assert task.state.result_state.value == "SUCCESS"
    assert run.start_time <= run.end_time
    output = w.jobs.get_run_output(task.run_id)
    assert output.metadata.run_id == task.run_id
    assert output.error is None
    assert "wrote" in output.logs

    record = databricks_standin.runs[waiter.run_id]
    assert record.state["result_state"] == "SUCCESS"
    assert record.spec["tasks"][0]["spark_python_task"]["python_file"] == python_file
    calls = [(method, path) for method, path, _ in databricks_standin.requests]
    assert ("GET", "/.well-known/databricks-config") in calls
    assert ("POST", "/api/2.2/jobs/runs/submit") in calls
    submit_body = next(
        body for method, path, body in databricks_standin.requests if path.endswith("/runs/submit")
    )
    assert submit_body["idempotency_token"] == f"tok-{style}"
    assert ("GET", "/api/2.2/jobs/runs/get", {"run_id": str(waiter.run_id)}) in databricks_standin.requests


def test_failing_python_file_is_failed_with_its_stderr(
    databricks_standin: DatabricksStandIn, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "fail.py", FAIL)
    w = client(databricks_standin)

    run = poll_until_terminated(
        w, w.jobs.submit(run_name="fail", tasks=[python_task(f"file:{script}", "x1")]).run_id
    )

    assert run.state.result_state.value == "FAILED"
    assert run.state.state_message == "Run failed with error message\n ValueError: boom: bad input x1"
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert output.error == "ValueError: boom: bad input x1"
    assert "Traceback" in output.error_trace and "about to fail" in output.error_trace


def test_missing_python_file_fails_the_run(databricks_standin: DatabricksStandIn) -> None:
    w = client(databricks_standin)
    run = poll_until_terminated(
        w, w.jobs.submit(run_name="missing", tasks=[python_task("dbfs:/nope/missing.py")]).run_id
    )
    assert run.state.result_state.value == "FAILED"
    assert "Cannot read the python file dbfs:/nope/missing.py" in run.state.state_message


def test_same_idempotency_token_gives_same_run_and_runs_once(
    databricks_standin: DatabricksStandIn, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "write.py", WRITE_ARGV)
    target = tmp_path / "count.txt"
    w = client(databricks_standin)
    tasks = [python_task(f"file:{script}", str(target), "once")]

    first = w.jobs.submit(run_name="idem", tasks=tasks, idempotency_token="same-token").run_id
    poll_until_terminated(w, first)
    second = w.jobs.submit(run_name="idem", tasks=tasks, idempotency_token="same-token").run_id
    poll_until_terminated(w, second)
    other = w.jobs.submit(run_name="idem", tasks=tasks, idempotency_token="other-token").run_id
    poll_until_terminated(w, other)

    assert first == second != other
    assert target.read_text() == "once\n" * 2  # the first token ran once, the other token once
    assert sorted(databricks_standin.runs) == sorted({first, other})


def test_cancel_kills_the_running_process(databricks_standin: DatabricksStandIn, tmp_path: Path) -> None:
    script = write_script(tmp_path, "sleep.py", SLEEP_WITH_PIDFILE)
    pidfile = tmp_path / "pid"
    w = client(databricks_standin)
    run_id = w.jobs.submit(run_name="sleepy", tasks=[python_task(f"file:{script}", str(pidfile))]).run_id
    assert w.jobs.get_run(run_id).state.life_cycle_state.value == "RUNNING"
    pid = int(wait_for_file(pidfile))
    assert psutil.pid_exists(pid)

    w.jobs.cancel_run(run_id)  # returns a waiter; we poll ourselves
    seen: list[str] = []
    run = poll_until_terminated(w, run_id, seen=seen)

    assert seen[0] == "TERMINATING"
    assert run.state.result_state.value == "CANCELED"
    assert not psutil.pid_exists(pid)
    assert databricks_standin.runs[run_id].tasks[0].process.poll() is not None
    assert ("POST", "/api/2.2/jobs/runs/cancel", {"run_id": run_id}) in databricks_standin.requests


@pytest.mark.parametrize("kind", ["jar", "python_file_that_exits"])
def test_hang_parameter_keeps_the_run_running_until_cancelled(
    databricks_standin: DatabricksStandIn, tmp_path: Path, kind: str
) -> None:
    script = write_script(tmp_path, "write.py", WRITE_ARGV)
    task = (
        jar_task("--hang")
        if kind == "jar"
        else python_task(f"file:{script}", str(tmp_path / "o.txt"), "--hang")
    )
    w = client(databricks_standin)
    run_id = w.jobs.submit(run_name="hang", tasks=[task]).run_id

    for _ in range(4):
        assert w.jobs.get_run(run_id).state.life_cycle_state.value == "RUNNING"
        time.sleep(0.1)
    w.jobs.cancel_run(run_id)
    assert poll_until_terminated(w, run_id).state.result_state.value == "CANCELED"


def test_task_timeout_ends_the_run_timedout(databricks_standin: DatabricksStandIn, tmp_path: Path) -> None:
    script = write_script(tmp_path, "sleep.py", SLEEP_WITH_PIDFILE)
    pidfile = tmp_path / "pid"
    w = client(databricks_standin)
    run_id = w.jobs.submit(
        run_name="slow", tasks=[python_task(f"file:{script}", str(pidfile), timeout_seconds=1)]
    ).run_id

    run = poll_until_terminated(w, run_id)

    assert run.state.result_state.value == "TIMEDOUT"
    assert not psutil.pid_exists(int(pidfile.read_text()))


def test_notebook_outcomes(databricks_standin: DatabricksStandIn) -> None:
    w = client(databricks_standin)

    ok = w.jobs.submit(run_name="nb-ok", tasks=[notebook_task(date="2024-01-01", x="1")]).run_id
    seen: list[str] = []
    run = poll_until_terminated(w, ok, seen=seen)
    assert seen == ["RUNNING", "TERMINATED"]
    assert run.state.result_state.value == "SUCCESS"
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert json.loads(output.notebook_output.result) == {"date": "2024-01-01", "x": "1"}

    failed = poll_until_terminated(
        w, w.jobs.submit(run_name="nb-fail", tasks=[notebook_task(outcome="fail")]).run_id
    )
    assert failed.state.result_state.value == "FAILED"
    assert "Notebook failed: requested by test" in failed.state.state_message
    assert w.jobs.get_run_output(failed.tasks[0].run_id).error == "Notebook failed: requested by test"

    hang = w.jobs.submit(run_name="nb-hang", tasks=[notebook_task(outcome="hang")]).run_id
    for _ in range(4):
        assert w.jobs.get_run(hang).state.life_cycle_state.value == "RUNNING"
    w.jobs.cancel_run(hang)
    assert poll_until_terminated(w, hang).state.result_state.value == "CANCELED"


def test_lifecycle_is_pending_until_polled(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.services.databricks_standin import DatabricksStandIn

    for key in [key for key in os.environ if key.startswith("DATABRICKS_")]:
        monkeypatch.delenv(key)
    with DatabricksStandIn(token="dapi-other", start_delay=30, simulated_seconds=30) as standin:
        w = standin.workspace_client()
        run_id = w.jobs.submit(run_name="jar", tasks=[jar_task()]).run_id
        assert standin.runs[run_id].state["life_cycle_state"] == "PENDING"
        assert w.jobs.get_run(run_id).state.life_cycle_state.value == "RUNNING"
        run = w.jobs.get_run(run_id)
        assert run.state.life_cycle_state.value == "TERMINATED" and run.state.result_state.value == "SUCCESS"
        assert standin.wait_until_state(run_id, "TERMINATED", timeout=1).state["result_state"] == "SUCCESS"


def test_wait_until_state_advances_without_polls(
    databricks_standin: DatabricksStandIn, tmp_path: Path
) -> None:
    script = write_script(tmp_path, "write.py", WRITE_ARGV)
    w = client(databricks_standin)
    run_id = w.jobs.submit(
        run_name="bg", tasks=[python_task(f"file:{script}", str(tmp_path / "bg.txt"), "bg")]
    ).run_id
    record = databricks_standin.wait_until_state(run_id, "TERMINATED", timeout=10)
    assert record.state["result_state"] == "SUCCESS"
    assert (tmp_path / "bg.txt").read_text() == "bg\n"
    hang = w.jobs.submit(run_name="h", tasks=[jar_task("--hang")]).run_id
    with pytest.raises(TimeoutError):
        databricks_standin.wait_until_state(hang, "TERMINATED", timeout=0.3)


def test_wrong_or_missing_token_is_refused(databricks_standin: DatabricksStandIn) -> None:
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    w = client(databricks_standin, token="dapi-wrong")
    with pytest.raises((Unauthenticated, PermissionDenied)):
        w.jobs.submit(run_name="nope", tasks=[jar_task()])
    assert databricks_standin.runs == {}

    request = urllib.request.Request(f"{databricks_standin.url}/api/2.2/jobs/runs/get?run_id=1")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 401
    assert json.loads(raised.value.read())["error_code"] == "UNAUTHENTICATED"


def test_unknown_runs_and_bad_requests_raise_sdk_errors(databricks_standin: DatabricksStandIn) -> None:
    from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceDoesNotExist

    w = client(databricks_standin)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(424242)
    with pytest.raises(NotFound):
        w.jobs.get_run_output(424242)
    with pytest.raises(NotFound):
        w.jobs.cancel_run(424242)
    with pytest.raises(InvalidParameterValue):
        w.jobs.submit(run_name="no tasks")

    run_id = w.jobs.submit(run_name="jar", tasks=[jar_task()]).run_id
    with pytest.raises(InvalidParameterValue, match="output of each individual task run"):
        w.jobs.get_run_output(run_id)  # the parent run id: the API wants the task run id


def test_api_2_1_paths_are_served(databricks_standin: DatabricksStandIn) -> None:
    w = client(databricks_standin)
    submitted = w.api_client.do(
        "POST",
        "/api/2.1/jobs/runs/submit",
        body={
            "run_name": "old",
            "tasks": [
                {"task_key": "j", "existing_cluster_id": "c", "spark_jar_task": {"main_class_name": "M"}}
            ],
        },
    )
    run = w.api_client.do("GET", "/api/2.1/jobs/runs/get", query={"run_id": submitted["run_id"]})
    assert run["run_id"] == submitted["run_id"] and run["tasks"][0]["task_key"] == "j"
    assert w.api_client.do("POST", "/api/2.1/jobs/runs/cancel", body={"run_id": submitted["run_id"]}) == {}


def test_current_user_is_the_token_owner(databricks_standin: DatabricksStandIn) -> None:
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    me = client(databricks_standin).current_user.me()
    assert (me.user_name, me.active) == (databricks_standin.user_name, True)
    assert me.id and me.display_name
    with pytest.raises((Unauthenticated, PermissionDenied), match="Invalid access token"):
        client(databricks_standin, token="dapi-wrong").current_user.me()

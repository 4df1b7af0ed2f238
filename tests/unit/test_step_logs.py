"""The step-log filter (`step_logs`) on real Airflow 3.3 task logs captured from our own runs.

`tests/logs/` holds logs as Airflow wrote or served them: `remote_*.json` are answers of the
public log API (`GET .../taskInstances/{task}/logs/1`, JSON) from a LocalExecutor deployment,
`remote_canceled.json` a task whose run was canceled over REST (its supervisor killed it);
`local_*.log` are task log files a local run's runner wrote.
"""

from __future__ import annotations

import json

from airflow_provider_mlpipe.step_logs import (
    LogFileTail,
    format_line,
    is_step_line,
    read_log_file,
    step_text,
    without_source_header,
)
from tests.conftest import TESTS

LOGS = TESTS / "logs"


def api_lines(name: str) -> list:
    return without_source_header(json.loads((LOGS / name).read_text())["content"])


def split(lines: list) -> tuple[list[str], list[str]]:
    """(events shown, events dropped)."""
    shown = [line["event"] for line in lines if is_step_line(line)]
    dropped = [line["event"] for line in lines if not is_step_line(line)]
    return shown, dropped


def test_a_remote_steps_own_lines_are_shown_and_airflows_bookkeeping_is_not():
    shown, dropped = split(api_lines("remote_talk.json"))
    assert [event.split(";")[0].split(":")[0] for event in shown] == [
        "Reuse",
        "Step 'talk'",
        "first line",
        "[stderr] err line",
        "second line",
        "Metrics",
        "Reuse",
    ]
    assert [event.split(":")[0] for event in dropped] == [
        "",  # ::group::Pre Execute
        "DAG bundles loaded",
        "Filling up the DagBag from /tmp/mlpipe-deploy-w4gcrtlk/dags/cap.py",
        "Worker startup parse complete",
        "",  # ::endgroup::
        "",  # ::group::Post Execute
        "Pushing xcom",
        "",  # ::endgroup::
    ]


def test_the_log_apis_source_header_is_not_part_of_the_step():
    content = json.loads((LOGS / "remote_talk.json").read_text())["content"]
    assert content[0]["event"] == "::group::Log message source details"
    lines = without_source_header(content)
    assert len(lines) == len(content) - 3
    assert not [line for line in lines if "/logs/dag_id=cap/" in str(line.get("event"))]


def test_a_failed_steps_exception_is_shown_as_its_message():
    text = step_text(api_lines("remote_boom.json"))
    assert "about to fail" in text
    assert "ERROR  AirflowException: step 'boom': script boom.py exited with code 3" in text
    assert "Task failed with exception" not in text and "::group::" not in text


def test_a_step_killed_by_a_cancel_shows_why_and_not_the_supervisors_lines():
    lines = api_lines("remote_canceled.json")
    shown, dropped = split(lines)
    assert any("killing the script's process tree" in event for event in shown)
    assert any("Server indicated the task shouldn't be running anymore" in event for event in dropped)
    assert not [event for event in shown if "Server indicated" in event or event == "Task killed!"]


def test_a_local_runs_log_file_reads_like_the_api():
    shown, dropped = split(read_log_file(LOGS / "local_talk.log"))
    assert "first line" in shown and "second line" in shown and "[stderr] to stderr" in shown
    assert dropped == ["::endgroup::", "::group::Post Execute", "Pushing xcom", "Task instance state updated"]
    text = step_text(read_log_file(LOGS / "local_canceled.log"))
    assert "Run canceled: stopping step 'loop'" in text
    assert "AirflowException: step 'loop': script loop.py exited with code -15" in text
    full = step_text(read_log_file(LOGS / "local_canceled.log"), full=True)
    assert "Pushing xcom" not in text and "::group::Post Execute" in full


def test_lines_are_shown_with_their_time_and_level_beyond_info():
    line = {"timestamp": "2026-11-30T05:07:51.762824Z", "level": "info", "event": "first line", "logger": "x"}
    assert format_line(line) == "05:07:51  first line"
    assert format_line({**line, "level": "warning"}) == "05:07:51  WARNING  first line"
    assert format_line("a plain line") == "a plain line"


def test_a_growing_log_file_is_read_in_whole_lines(tmp_path):
    path = tmp_path / "attempt=1.log"
    tail = LogFileTail(path)
    assert tail.read_new() == []  # not written yet
    path.write_bytes(b'{"event": "one", "logger": "airflow.task.operators.x"}\n{"event": "tw')
    assert [line["event"] for line in tail.read_new()] == ["one"]
    with path.open("ab") as handle:
        handle.write(b'o"}\nnot json\n')
    assert tail.read_new() == [{"event": "two"}, "not json"]
    assert tail.read_new() == []

"""`RunLogPrinter`: a step's lines under its name as written, closed once its task has ended."""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe.run_logs import RunLogPrinter, StepTry


class FixedSource:
    """A log source whose one step try has ended with two lines of its own."""

    readable_states = frozenset({"running"})

    def __init__(self) -> None:
        self.lines = [{"event": "first", "logger": "airflow.task.operators.x"}, "second"]

    def tries(self) -> list[StepTry]:
        return [StepTry("train_py", 1, "success")]

    def new_lines(self, step_try: StepTry) -> tuple[list[Any], bool]:
        lines, self.lines = self.lines, []
        return lines, True

    def all_lines(self, step_try: StepTry) -> list[Any]:
        return []


def test_a_steps_lines_show_under_its_name_as_written():
    printed: list[str] = []
    printer = RunLogPrinter(FixedSource(), printed.append)
    step = {"Name": "train.py", "TaskId": "train_py", "Status": "Finished", "Reused": False}
    printer.poll([step])
    printer.poll([step])  # nothing new, closed once
    assert printed == [
        "StepRun(train.py):",
        "first",
        "second",
        "StepRun(train.py) Status: Finished, Reuse: ran",
        "",
    ]


def test_a_record_without_task_id_is_matched_by_its_name():
    printed: list[str] = []
    RunLogPrinter(FixedSource(), printed.append).poll([{"Name": "train_py", "Status": "Finished"}])
    assert (
        printed[0] == "StepRun(train_py):" and printed[-2] == "StepRun(train_py) Status: Finished, Reuse: n/a"
    )

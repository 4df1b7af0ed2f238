"""Follow a pipeline run's step logs while it runs, for `PipelineRun.wait_for_completion(show_output=True)`.

Each poll reads only what each step try wrote since the last poll: a local run from the task log
files (by byte offset), a remote run from Airflow's log API (by its continuation token, which
carries the line position). The printer shows the step's own lines (see `step_logs`) as they
come, says which step they are from, and closes each step with its status and reuse decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_mlpipe.step_logs import (
    LogFileTail,
    format_line,
    is_step_line,
    read_log_file,
    task_log_path,
    without_source_header,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_mlpipe.workspace import Workspace

#: Task instance states in which a remote try writes its log (Airflow serves it from then on).
WRITING_STATES = frozenset({"running", "deferred", "up_for_reschedule"})
#: Task instance states after which a try writes nothing more.
ENDED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed", "up_for_retry"})


@dataclass(frozen=True)
class StepTry:
    """One try of one step (task instance) of the run, as the metadata DB or API says now."""

    task_id: str
    try_number: int
    state: str
    map_index: int = -1

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.task_id, self.map_index, self.try_number)


class LogSource(Protocol):
    """Where a run's step logs are read from."""

    #: States in which a try may be read (it has begun writing and may write more).
    readable_states: frozenset[str]

    def tries(self) -> list[StepTry]:
        """Every step's latest try, in the order they started."""

    def new_lines(self, step_try: StepTry) -> tuple[list[Any], bool]:
        """(the try's lines written since the last call, whether the try has ended and all is read)."""

    def all_lines(self, step_try: StepTry) -> list[Any]:
        """Every line of the try."""


class LocalLogSource:
    """A local run: task states from this machine's metadata DB, lines from Airflow's task log files."""

    # `dag.test()` holds a deferred step "queued" while its trigger runs in line; the file tells.
    readable_states = WRITING_STATES | {"queued"}

    def __init__(self, dag_id: str, run_id: str) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self._tails: dict[tuple[str, int, int], LogFileTail] = {}
        self._logical_date: Any = None

    def tries(self) -> list[StepTry]:
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            self._logical_date = session.scalar(
                select(DagRun.logical_date).where(DagRun.dag_id == self.dag_id, DagRun.run_id == self.run_id)
            )
            rows = session.execute(
                select(
                    TaskInstance.task_id, TaskInstance.try_number, TaskInstance.state, TaskInstance.map_index
                )
                .where(TaskInstance.dag_id == self.dag_id, TaskInstance.run_id == self.run_id)
                .order_by(TaskInstance.start_date.is_(None), TaskInstance.start_date, TaskInstance.task_id)
            ).all()
        return [StepTry(task, number or 0, _state(state), index) for task, number, state, index in rows]

    def _path(self, step_try: StepTry) -> Any:
        return task_log_path(
            self.dag_id,
            self.run_id,
            step_try.task_id,
            step_try.try_number,
            step_try.map_index,
            self._logical_date,
        )

    def new_lines(self, step_try: StepTry) -> tuple[list[Any], bool]:
        tail = self._tails.get(step_try.key)
        if tail is None:
            tail = self._tails[step_try.key] = LogFileTail(self._path(step_try))
        # The runner writes a try's last line before the DB says it ended, so a read after an
        # "ended" state is complete.
        return tail.read_new(), step_try.state in ENDED_STATES

    def all_lines(self, step_try: StepTry) -> list[Any]:
        return read_log_file(self._path(step_try))


class RemoteLogSource:
    """A remote run: task states and log lines from Airflow's public API."""

    readable_states = WRITING_STATES

    def __init__(self, workspace: Workspace, dag_id: str, run_id: str) -> None:
        self.workspace = workspace
        self.base = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        self._tokens: dict[tuple[str, int, int], str | None] = {}

    def tries(self) -> list[StepTry]:
        instances: list[dict[str, Any]] = []
        while True:  # pages of at most `[api] maximum_page_limit` (100 by default)
            answer = self.workspace.request("GET", self.base, params={"offset": len(instances)}).json()
            page = answer.get("task_instances") or []
            instances += page
            if not page or len(instances) >= answer.get("total_entries", 0):
                break
        instances.sort(key=lambda ti: (not ti.get("start_date"), ti.get("start_date") or "", ti["task_id"]))
        return [
            StepTry(
                ti["task_id"], ti.get("try_number") or 0, _state(ti.get("state")), ti.get("map_index", -1)
            )
            for ti in instances
        ]

    def _read(self, step_try: StepTry, token: str | None, full: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"map_index": step_try.map_index}
        if token:
            params["token"] = token
        if full:
            params["full_content"] = True
        return self.workspace.request(
            "GET",
            f"{self.base}/{step_try.task_id}/logs/{step_try.try_number}",
            params=params,
            headers={"Accept": "application/json"},
        ).json()

    def new_lines(self, step_try: StepTry) -> tuple[list[Any], bool]:
        first = step_try.key not in self._tokens
        answer = self._read(step_try, self._tokens.get(step_try.key), full=False)
        content = list(answer.get("content") or [])
        token = answer.get("continuation_token")
        self._tokens[step_try.key] = token
        # No token: Airflow says the try's log is complete (the try is no longer running or deferred).
        return (without_source_header(content) if first else content), token is None

    def all_lines(self, step_try: StepTry) -> list[Any]:
        return without_source_header(list(self._read(step_try, None, full=True).get("content") or []))


class RunLogPrinter:
    """Prints each step's new lines as they come, and a status line when the step has ended."""

    def __init__(self, source: LogSource, print_: Callable[[str], None] = print) -> None:
        self.source = source
        self.print = print_
        self._done: set[tuple[str, int, int]] = set()
        self._closed: set[str] = set()
        self._last: tuple[str, int, int] | None = None
        self._reading: dict[tuple[str, int], StepTry] = {}
        self._names: dict[str, str] = {}

    def poll(self, steps: list[dict[str, Any]]) -> None:
        """Print what each step wrote since the last poll; `steps` are the run's v1 step records."""
        self._names.update({_task_id(step): step["Name"] for step in steps})
        tries = self.source.tries()
        for step_try in tries:
            earlier = self._reading.get((step_try.task_id, step_try.map_index))
            if (
                earlier is not None
                and earlier.try_number < step_try.try_number
                and earlier.key not in self._done
            ):
                # A retry began between two polls: the earlier try has ended; read its rest first.
                self._show(StepTry(earlier.task_id, earlier.try_number, "up_for_retry", earlier.map_index))
            if step_try.key in self._done or step_try.try_number < 1:
                continue
            if step_try.state in self.source.readable_states or step_try.state in ENDED_STATES:
                self._reading[(step_try.task_id, step_try.map_index)] = step_try
                self._show(step_try)
        pending = {t.task_id for t in tries if t.try_number >= 1 and t.key not in self._done}
        for step in steps:
            task_id = _task_id(step)
            if (
                task_id in self._closed
                or task_id in pending
                or step["Status"] not in ("Finished", "Failed", "Canceled")
            ):
                continue
            self._closed.add(task_id)
            self.print(_footer(step))
            self.print("")
            self._last = None

    def _show(self, step_try: StepTry) -> None:
        lines, ended = self.source.new_lines(step_try)
        shown = [line for line in lines if isinstance(line, str) or is_step_line(line)]
        if shown:
            if self._last != step_try.key:
                self.print(_header(step_try, self._names.get(step_try.task_id, step_try.task_id)))
                self._last = step_try.key
            for line in shown:
                self.print(format_line(line))
        if ended:
            self._done.add(step_try.key)


def _task_id(step: dict[str, Any]) -> str:
    return step.get("TaskId") or step["Name"]


def _header(step_try: StepTry, name: str) -> str:
    attempt = f" (try {step_try.try_number})" if step_try.try_number > 1 else ""
    return f"StepRun({name}){attempt}:"


def _footer(step: dict[str, Any]) -> str:
    reuse = "reused" if step.get("Reused") else "ran" if step.get("Reused") is False else "n/a"
    return f"StepRun({step['Name']}) Status: {step['Status']}, Reuse: {reuse}"


def _state(value: Any) -> str:
    return "none" if value is None else str(getattr(value, "value", value)).lower().split(".")[-1]

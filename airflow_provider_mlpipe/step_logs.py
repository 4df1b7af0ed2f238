"""A step's log as its author wants to read it: the step's own lines, without Airflow's bookkeeping.

Airflow 3.3 writes a task's log as JSON lines (`{"timestamp", "level", "event", "logger", ...}`),
in the file under `[logging] base_log_folder` and in the `content` of the public log API alike.
What a step says comes from the loggers of its operator and hooks (`airflow.task.operators.*`,
`airflow.task.hooks.*`: the script's stdout/stderr, the Reuse decision, metrics) and of our
triggers; everything else a task log holds is the task runner's, supervisor's and execution
API's bookkeeping (`::group::` markers, "Pushing xcom", "DAG bundles loaded", "Task instance
state updated", "Server indicated the task shouldn't be running anymore", ...). The one line of
those kept is the runner's report of the step's exception: it says why the step failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Loggers whose lines belong to the step: its operator and hooks, and this provider's triggers.
STEP_LOGGER_PREFIXES = ("airflow.task.operators.", "airflow.task.hooks.")
PROVIDER_LOGGER_PART = "airflow_provider_mlpipe"
#: Loggers of Airflow's machinery around a task (task runner, supervisor, execution API, ...).
BOOKKEEPING_LOGGERS = ("task", "supervisor", "py.warnings")
BOOKKEEPING_LOGGER_PREFIX = "airflow."
#: The task runner's line that carries the step's exception (kept, shown as the exception).
FAILURE_EVENT = "Task failed with exception"
#: The header the log API puts before a task's lines (where it read them from).
SOURCE_DETAILS_GROUP = "::group::Log message source details"
GROUP_MARKERS = ("::group::", "::endgroup::")


def is_step_line(line: dict[str, Any]) -> bool:
    """Whether a structured log line is the step's own (shown) rather than Airflow's bookkeeping."""
    event = str(line.get("event", ""))
    if event.startswith(GROUP_MARKERS):
        return False
    logger = line.get("logger")
    if not isinstance(logger, str):
        return True  # a plain text line (e.g. a log file written before JSON logs)
    if logger.startswith(STEP_LOGGER_PREFIXES) or PROVIDER_LOGGER_PART in logger:
        return True
    if logger == "task" and event == FAILURE_EVENT:
        return True
    return not (logger in BOOKKEEPING_LOGGERS or logger.startswith(BOOKKEEPING_LOGGER_PREFIX))


def format_line(line: dict[str, Any] | str) -> str:
    """One line as text: `HH:MM:SS  event`, with the level for warnings and errors.

    The runner's failure line becomes the exception it carries (`AirflowException: step ...`).
    """
    if isinstance(line, str):
        return line
    event = str(line.get("event", ""))
    if event == FAILURE_EVENT:  # the exception: `error_detail` as served by the API, `exception` in files
        event = _exception_text(line.get("error_detail") or line.get("exception")) or event
    stamp = str(line.get("timestamp") or "")
    clock = stamp[11:19] if len(stamp) >= 19 else ""
    level = str(line.get("level") or "info").upper()
    parts = [clock, "" if level in ("INFO", "DEBUG") else level, event]
    return "  ".join(part for part in parts if part)


def _exception_text(detail: Any) -> str:
    """`Type: message` of each exception in Airflow's structured exception record."""
    if not isinstance(detail, list):
        return ""
    texts = [
        f"{item.get('exc_type', 'Exception')}: {item.get('exc_value', '')}"
        for item in detail
        if isinstance(item, dict)
    ]
    return "\n".join(texts)


def step_text(lines: Iterable[dict[str, Any] | str], full: bool = False) -> str:
    """The lines as text, one per line; only the step's own unless `full`."""
    shown = (line for line in lines if full or isinstance(line, str) or is_step_line(line))
    return "\n".join(format_line(line) for line in shown)


def without_source_header(lines: list[Any]) -> list[Any]:
    """The log API's lines without the leading "Log message source details" group."""
    if lines and isinstance(lines[0], dict) and lines[0].get("event") == SOURCE_DETAILS_GROUP:
        for index, line in enumerate(lines):
            if isinstance(line, dict) and line.get("event") == "::endgroup::":
                return lines[index + 1 :]
    return lines


def parse_json_line(raw: str) -> dict[str, Any] | str:
    """One line of a task log file: its JSON object, or the text itself when it is not JSON."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, dict) else raw


class LogFileTail:
    """Reads a growing JSON-lines log file from where the last read stopped (complete lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[dict[str, Any] | str]:
        """The lines written since the last call (none when the file does not exist yet)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
        self.offset += end
        return [parse_json_line(raw) for raw in data[:end].decode("utf-8", "replace").splitlines() if raw]


def read_log_file(path: Path) -> list[dict[str, Any] | str]:
    """Every complete line of a task log file (empty when it does not exist)."""
    return LogFileTail(path).read_new()


def task_log_path(
    dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1, logical_date: Any = None
) -> Path:
    """Where Airflow keeps a task try's log on this machine: `[logging] log_filename_template`
    rendered under `[logging] base_log_folder`, as Airflow's file task handler does."""
    from types import SimpleNamespace

    import jinja2
    from airflow.configuration import conf

    template = conf.get("logging", "log_filename_template")
    ti = SimpleNamespace(
        dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, try_number=try_number
    )
    stamp = logical_date.isoformat() if logical_date is not None else ""
    if "{{" in template or "{%" in template:
        relative = jinja2.Template(template).render(ti=ti, ts=stamp, try_number=try_number)
    else:
        relative = template.format(
            dag_id=dag_id, task_id=task_id, run_id=run_id, logical_date=stamp, try_number=try_number
        )
    return Path(conf.get("logging", "base_log_folder")).expanduser() / relative

"""Metrics from step scripts, as v1's `Run.get_context().log(name, value)`; standard library only.

A step's script may run under another interpreter than the worker's, so this module imports
nothing but the standard library, and the step puts a copy of it on the script's PYTHONPATH
as the top-level module `mlpipe_run_context`. Inside a step, each metric is appended as one
JSON line to the file named by `MLPIPE_METRICS_FILE` (one `write` on an `O_APPEND` file, so
threads and processes may log at once); the step aggregates the lines into v1's
`get_metrics()` shape, writes `metrics.json` beside its outputs and pushes it to XCom.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import threading
import uuid
from collections.abc import Iterable
from typing import Any

#: Name of the aggregated metrics file at `mlpipe/<dag_id>/<run_id>/<task_id>/` on the step's datastore.
METRICS_FILE_NAME = "metrics.json"
#: Environment variable naming the JSON-lines file a step script appends its metrics to.
METRICS_FILE_ENV = "MLPIPE_METRICS_FILE"
#: Environment variable holding the step run's id (`<dag_id>/<run_id>/<task_id>`).
RUN_ID_ENV = "MLPIPE_RUN_ID"
#: Top-level name under which a step's script can always import this module.
FALLBACK_MODULE = "mlpipe_run_context"

_SCALAR, _LIST, _ROW = "scalar", "list", "row"
_VALUES, _TABLE = "values", "table"
_METHOD = {_SCALAR: "log", _LIST: "log_list", _ROW: "log_row"}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a metric name must be a non-empty string, got {name!r}")
    return name


def _check_description(name: str, description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise TypeError(f"metric {name!r}: description must be a string, got {type(description).__name__}")
    return description


def _check_value(name: str, value: Any, what: str = "value") -> bool | int | float | str:
    """A metric value as JSON will hold it: a bool, an int, a finite float or a string.

    Numbers of other types (numpy's, Decimal, Fraction) are converted through `numbers`.
    """
    if isinstance(value, (bool, str)):
        return value
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):  # not a Number
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(
                f"metric {name!r}: {what} {number!r} is not finite (JSON has no NaN or infinity)"
            )
        return number
    raise TypeError(
        f"metric {name!r}: {what} must be a number, a string or a bool, got {type(value).__name__} "
        f"{_short(value)}"
    )


def _check_list(name: str, value: Any) -> list[bool | int | float | str]:
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()  # a numpy array or pandas Series
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"metric {name!r}: log_list needs a list or tuple, got {type(value).__name__}")
    return [_check_value(name, item, f"item {index}") for index, item in enumerate(value)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def aggregate(records: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """v1's `get_metrics()` shape from logged records, and the records it had to drop (why).

    A name logged once with `log` is its value; logged more often, or with `log_list`, a list;
    with `log_row`, a table `{column: [values]}` whose columns are padded with None so that
    rows stay aligned. A name logged both as values and as a table keeps its first kind.
    """
    kinds: dict[str, str] = {}
    values: dict[str, list[Any]] = {}
    single: dict[str, bool] = {}
    tables: dict[str, dict[str, list[Any]]] = {}
    rows: dict[str, int] = {}
    problems: list[str] = []
    for record in records:
        name, kind, value = record.get("name"), record.get("kind"), record.get("value")
        if not isinstance(name, str) or kind not in (_SCALAR, _LIST, _ROW):
            problems.append(f"unreadable metric record {_short(record)}")
            continue
        wanted = _TABLE if kind == _ROW else _VALUES
        if kinds.setdefault(name, wanted) != wanted:
            first = "log_row" if kinds[name] == _TABLE else "log or log_list"
            problems.append(
                f"metric {name!r} was first logged with {first}; a {_METHOD[kind]} of it was dropped"
            )
            continue
        if kind == _ROW:
            if not isinstance(value, dict):
                problems.append(f"unreadable row of metric {name!r}: {_short(value)}")
                continue
            table = tables.setdefault(name, {})
            count = rows.get(name, 0)
            for column in value:
                table.setdefault(column, [None] * count)
            for column, cells in table.items():
                cells.append(value.get(column))
            rows[name] = count + 1
        elif kind == _LIST:
            values.setdefault(name, []).extend(value if isinstance(value, list) else [value])
            single[name] = False
        else:
            single[name] = name not in values
            values.setdefault(name, []).append(value)
    metrics: dict[str, Any] = {}
    for name, kind in kinds.items():
        if kind == _TABLE:
            metrics[name] = tables[name]
        else:
            metrics[name] = values[name][0] if single[name] else values[name]
    return metrics, problems


def read_records(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a metrics file (none when it does not exist), and its unreadable lines."""
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return records, problems
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"line {number} of {path} is not JSON: {_short(line)}")
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            problems.append(f"line {number} of {path} is not a metric record: {_short(line)}")
    return records, problems


def metrics_from_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[str]]:
    """Aggregated metrics of a metrics file and every problem met reading it."""
    records, unreadable = read_records(path)
    metrics, dropped = aggregate(records)
    return metrics, unreadable + dropped


class Run:
    """The run of the current step (v1's `azureml.core.Run`), as far as metrics go.

    Use `Run.get_context()`; inside a pipeline step it appends metrics to the step's metrics
    file, outside one it is an `OfflineRun` that prints them.
    """

    _context: Run | None = None
    _context_lock = threading.Lock()

    def __init__(self, metrics_file: str, run_id: str) -> None:
        self._metrics_file = metrics_file
        self._id = run_id
        self._kinds: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def get_context(cls, allow_offline: bool = True) -> Run:
        """This step's run; an `OfflineRun` outside a pipeline step (a `RuntimeError` if not allowed)."""
        metrics_file = os.environ.get(METRICS_FILE_ENV)
        with cls._context_lock:
            context = Run._context
            if metrics_file:
                if not (type(context) is Run and context._metrics_file == metrics_file):
                    context = Run(metrics_file, os.environ.get(RUN_ID_ENV) or metrics_file)
            elif not allow_offline:
                raise RuntimeError(
                    f"Run.get_context(allow_offline=False): not in a pipeline step ({METRICS_FILE_ENV} unset)"
                )
            elif not isinstance(context, OfflineRun):
                context = OfflineRun()
            Run._context = context
            return context

    @property
    def id(self) -> str:  # noqa: A003 - v1's name
        """The step run's id: `<dag_id>/<run_id>/<task_id>` (`OfflineRun_<uuid>` offline)."""
        return self._id

    def log(self, name: str, value: Any, description: str = "") -> None:
        """Log one value; a name logged more than once becomes a list (as in v1)."""
        name = _check_name(name)
        self._add(name, _SCALAR, _check_value(name, value), _check_description(name, description))

    def log_list(self, name: str, value: Any, description: str = "") -> None:
        """Log a list of values under one name (appended to what the name already holds)."""
        name = _check_name(name)
        self._add(name, _LIST, _check_list(name, value), _check_description(name, description))

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Log one row of the table `name`, columns as keyword arguments (get_metrics: {column: [values]})."""
        name = _check_name(name)
        if not kwargs:
            raise ValueError(
                f"metric {name!r}: log_row needs at least one column, e.g. log_row({name!r}, epoch=1)"
            )
        row = {column: _check_value(name, value, f"column {column!r}") for column, value in kwargs.items()}
        self._add(name, _ROW, row, _check_description(name, description))

    def get_metrics(self) -> dict[str, Any]:
        """Every metric logged in this step so far (by any process), in v1's shape."""
        return metrics_from_file(self._metrics_file)[0]

    def _add(self, name: str, kind: str, value: Any, description: str) -> None:
        wanted = _TABLE if kind == _ROW else _VALUES
        with self._lock:
            known = self._kinds.setdefault(name, wanted)
            if known != wanted:
                how = "log_row" if known == _TABLE else "log or log_list"
                raise ValueError(
                    f"metric {name!r} was logged with {how}; it cannot also take {_METHOD[kind]}"
                )
            self._write({"name": name, "kind": kind, "value": value, "description": description})

    def _write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
        # One write on an O_APPEND file: lines of concurrent writers never interleave.
        fd = os.open(self._metrics_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Run(id={self._id!r})"


class OfflineRun(Run):
    """A script run by hand (v1's offline run): each metric is printed and kept in memory."""

    def __init__(self) -> None:
        super().__init__("", f"OfflineRun_{uuid.uuid4()}")
        self._records: list[dict[str, Any]] = []

    def get_metrics(self) -> dict[str, Any]:
        with self._lock:
            return aggregate(list(self._records))[0]

    def _write(self, record: dict[str, Any]) -> None:
        self._records.append(record)
        shown = record["value"]
        print(f"Attempted to log {record['kind']} metric {record['name']}:\n{shown}", flush=True)


def _reset_after_fork() -> None:
    """A child process must not inherit a lock another thread of its parent held."""
    Run._context_lock = threading.Lock()
    if Run._context is not None:
        Run._context._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

"""v1's `Run.get_context()` for step scripts: metrics, images, tags, files; standard library only.

A step's script may run under another interpreter than the worker's, so this module imports
nothing but the standard library, and the step puts a copy of it on the script's PYTHONPATH
as the top-level module `mlpipe_run_context`. Inside a step, each record (a metric, an image,
a tag, an uploaded file) is appended as one JSON line to the file named by `MLPIPE_METRICS_FILE`
(one `write` on an `O_APPEND` file, so threads and processes may log at once); images and
uploaded files are copied beside it (`images/`, `files/`). After the script, the step
aggregates the metrics into v1's `get_metrics()` shape, stores `metrics.json`, the images and
files at `mlpipe/<dag_id>/<run_id>/<task_id>/` on its datastore, and pushes both summaries to XCom.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
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
#: Environment variable holding the pipeline run's id (the Airflow run id), `Run.parent.id`.
PIPELINE_RUN_ID_ENV = "MLPIPE_PIPELINE_RUN_ID"
#: Top-level name under which a step's script can always import this module.
FALLBACK_MODULE = "mlpipe_run_context"
#: Folders beside the metrics file (and `metrics.json` on the datastore) of logged images and uploaded files.
IMAGES_FOLDER = "images"
FILES_FOLDER = "files"
#: v1's run types (`Run.type`, `get_metrics(recursive=True, run_type=...)`).
STEP_RUN_TYPE = "azureml.StepRun"
PIPELINE_RUN_TYPE = "azureml.PipelineRun"

_SCALAR, _LIST, _ROW, _TABLE_KIND, _IMAGE = "scalar", "list", "row", "table", "image"
_TAG, _FILE = "tag", "file"
_VALUES, _TABLE = "values", "table"
_METHOD = {_SCALAR: "log", _LIST: "log_list", _ROW: "log_row", _TABLE_KIND: "log_table", _IMAGE: "log_image"}
_METRIC_KINDS = frozenset(_METHOD)
#: Records of `Run.parent` (the pipeline run) carry this `run`; the step's own carry none.
_PARENT = "parent"
_IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".bmp", ".webp")


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


def _check_table(name: str, value: Any) -> dict[str, list[bool | int | float | str]]:
    """A `log_table` value: {column: [values]}, columns as lists (numpy arrays, pandas Series too)."""
    if hasattr(value, "to_dict") and not isinstance(value, dict):
        value = value.to_dict(orient="list")  # a pandas DataFrame
    if not isinstance(value, dict) or not value:
        raise TypeError(
            f"metric {name!r}: log_table needs a non-empty dict of columns, {{column: [values]}}, "
            f"got {type(value).__name__}"
        )
    table = {}
    for column, cells in value.items():
        if not isinstance(column, str):
            raise TypeError(f"metric {name!r}: column names must be strings, got {column!r}")
        table[column] = _check_list(f"{name}.{column}", cells)
    return table


def _check_step(name: str, step: Any) -> int | float | None:
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise TypeError(
            f"metric {name!r}: step must be a number (the value's place on the axis), got {step!r}"
        )
    return _check_value(name, step, "step")  # type: ignore[return-value]


def _check_relative(what: str, name: Any) -> str:
    """A file name relative to the run's folder: no absolute path, no `..`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what}: a name must be a non-empty string, got {name!r}")
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{what}: {name!r} must be a relative path without '.' or '..' parts")
    return "/".join(parts)


def _rows(table: dict[str, list[Any]]) -> list[dict[str, Any]]:
    length = max((len(cells) for cells in table.values()), default=0)
    return [
        {column: cells[i] if i < len(cells) else None for column, cells in table.items()}
        for i in range(length)
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def aggregate(records: Iterable[dict[str, Any]], run: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """v1's `get_metrics()` shape from logged records, and the records it had to drop (why).

    Only the metrics of `run` count: the step's own (None) or its pipeline run's (`"parent"`).
    A name logged once with `log` (or `log_image`) is its value; logged more often, or with
    `log_list`, a list, ordered by `step` when every value has one; with `log_row` or
    `log_table`, a table `{column: [values]}` whose columns are padded with None so that rows
    stay aligned. A name logged both as values and as a table keeps its first kind.
    """
    kinds: dict[str, str] = {}
    firsts: dict[str, str] = {}
    values: dict[str, list[tuple[Any, Any]]] = {}
    single: dict[str, bool] = {}
    tables: dict[str, dict[str, list[Any]]] = {}
    rows: dict[str, int] = {}
    problems: list[str] = []
    for record in records:
        name, kind, value = record.get("name"), record.get("kind"), record.get("value")
        if kind in (_TAG, _FILE):
            continue  # not metrics (see `run_summary`)
        if not isinstance(name, str) or kind not in _METRIC_KINDS:
            problems.append(f"unreadable metric record {_short(record)}")
            continue
        if record.get("run") != run:
            continue
        wanted = _TABLE if kind in (_ROW, _TABLE_KIND) else _VALUES
        first_kind = firsts.setdefault(name, kind)
        if kinds.setdefault(name, wanted) != wanted:
            first = _METHOD[first_kind] if kinds[name] == _TABLE else "log or log_list"
            problems.append(
                f"metric {name!r} was first logged with {first}; a {_METHOD[kind]} of it was dropped"
            )
            continue
        if kind in (_ROW, _TABLE_KIND):
            if not isinstance(value, dict):
                problems.append(f"unreadable {kind} of metric {name!r}: {_short(value)}")
                continue
            table = tables.setdefault(name, {})
            for row in [value] if kind == _ROW else _rows(value):
                count = rows.get(name, 0)
                for column in row:
                    table.setdefault(column, [None] * count)
                for column, cells in table.items():
                    cells.append(row.get(column))
                rows[name] = count + 1
        elif kind == _LIST:
            items = value if isinstance(value, list) else [value]
            values.setdefault(name, []).extend((None, item) for item in items)
            single[name] = False
        else:
            single[name] = name not in values
            values.setdefault(name, []).append((record.get("step"), value))
    metrics: dict[str, Any] = {}
    for name, kind in kinds.items():
        if kind == _TABLE:
            metrics[name] = tables[name]
            continue
        logged = values[name]
        if len(logged) > 1 and all(isinstance(step, (int, float)) for step, _ in logged):
            logged = sorted(logged, key=lambda pair: pair[0])
        metrics[name] = logged[0][1] if single[name] else [value for _, value in logged]
    return metrics, problems


def run_summary(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What a step's script recorded besides its metrics: its tags, images and uploaded files, and
    the metrics and tags it gave its pipeline run (`Run.parent`).

    `{"tags": {key: value}, "images": [{"name", "path", "description"}], "files": [{"name", "path",
    "datastore"}], "parent": {"metrics": {...}, "tags": {...}}}`; paths are relative to the
    step's folder (beside `metrics.json`).
    """
    records = list(records)
    tags: dict[str | None, dict[str, Any]] = {None: {}, _PARENT: {}}
    images, files = [], []
    for record in records:
        kind, run = record.get("kind"), record.get("run")
        if kind == _TAG and isinstance(record.get("name"), str) and run in tags:
            tags[run][record["name"]] = record.get("value")
        elif kind == _IMAGE and run is None:
            images.append(
                {
                    "name": record.get("name"),
                    "path": record.get("value"),
                    "description": record.get("description", ""),
                }
            )
        elif kind == _FILE and run is None:
            files.append(
                {
                    "name": record.get("name"),
                    "path": record.get("value"),
                    "datastore": record.get("datastore"),
                }
            )
    return {
        "tags": tags[None],
        "images": images,
        "files": files,
        "parent": {"metrics": aggregate(records, _PARENT)[0], "tags": tags[_PARENT]},
    }


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


def _filtered(metrics: dict[str, Any], name: str | None) -> dict[str, Any]:
    if name is None:
        return metrics
    return {name: metrics[name]} if name in metrics else {}


def _tag_value(key: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, numbers.Number)):
        return str(value)
    raise TypeError(f"tag {key!r}: value must be a string (or None), got {type(value).__name__}")


class Run:
    """The run of the current step (v1's `azureml.core.Run`): metrics, images, tags and files.

    Use `Run.get_context()`; inside a pipeline step it appends to the step's records file,
    outside one it is an `OfflineRun` that prints what it is given. `run.parent` is the
    pipeline run: what is logged or tagged on it shows on the `PipelineRun` (`get_metrics`,
    `get_tags`) after the step.
    """

    _context: Run | None = None
    _context_lock = threading.Lock()

    def __init__(
        self, metrics_file: str, run_id: str, _parent_id: str | None = None, _run: str | None = None
    ) -> None:
        self._metrics_file = metrics_file
        self._id = run_id
        self._parent_id = _parent_id
        self._run = _run  # None: the step's own records; "parent": the pipeline run's
        self._kinds: dict[str, str] = {}
        self._firsts: dict[str, str] = {}
        self._stepped: dict[str, bool] = {}
        self._lock = threading.Lock()

    @classmethod
    def get_context(
        cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs: Any
    ) -> Run:
        """This step's run; an `OfflineRun` outside a pipeline step (a `RuntimeError` if not allowed).

        The run is usable in a `with` block whatever `used_for_context_manager` says (leaving the
        block ends nothing: the step ends when its script does).
        """
        if kwargs:
            raise TypeError(f"Run.get_context: unexpected arguments {sorted(kwargs)}")
        metrics_file = os.environ.get(METRICS_FILE_ENV)
        with cls._context_lock:
            context = Run._context
            if metrics_file:
                if not (type(context) is Run and context._metrics_file == metrics_file):
                    context = Run(
                        metrics_file,
                        os.environ.get(RUN_ID_ENV) or metrics_file,
                        os.environ.get(PIPELINE_RUN_ID_ENV) or None,
                    )
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
        """The run's id: a step's is `<dag_id>/<run_id>/<task_id>` (`StepRun.id`), a pipeline
        run's the Airflow run id (`OfflineRun_<uuid>` offline)."""
        return self._id

    @property
    def type(self) -> str:  # noqa: A003 - v1's name
        """v1's run type: `azureml.StepRun`, or `azureml.PipelineRun` for `parent`."""
        return PIPELINE_RUN_TYPE if self._run == _PARENT else STEP_RUN_TYPE

    @property
    def parent(self) -> Run | None:
        """The pipeline run this step belongs to (None for a pipeline run, or offline).

        Metrics and tags given to it reach the `PipelineRun` (`get_metrics()`, `get_tags()`);
        images and files are the step's own.
        """
        if self._run == _PARENT or self._parent_id is None:
            return None
        return Run(self._metrics_file, self._parent_id, None, _PARENT)

    def log(self, name: str, value: Any, description: str = "", step: int | None = None) -> None:
        """Log one value; a name logged more than once becomes a list (as in v1), in `step` order
        when each value has a step (give one to every value of the name, or to none)."""
        name = _check_name(name)
        record_step = _check_step(name, step)
        self._add(
            name, _SCALAR, _check_value(name, value), _check_description(name, description), record_step
        )

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

    def log_table(self, name: str, value: Any, description: str = "") -> None:
        """Log a table `{column: [values]}`; its rows follow those of earlier `log_table`/`log_row` calls."""
        name = _check_name(name)
        self._add(name, _TABLE_KIND, _check_table(name, value), _check_description(name, description))

    def log_image(self, name: str, path: Any = None, plot: Any = None, description: str = "") -> str:
        """Log an image: a file (`path`: a path or a binary stream) or a matplotlib figure (`plot`:
        `pyplot` or a `Figure`, saved as PNG).

        The image is kept beside the metrics (`images/<file>` on the step's datastore) and shown
        on the monitoring page; `get_metrics()[name]` is that relative path. Returns it.
        """
        name = _check_name(name)
        description = _check_description(name, description)
        if (path is None) == (plot is None):
            raise ValueError(f"log_image {name!r}: give either path or plot (not both, not neither)")
        if self._run == _PARENT:
            raise ValueError(
                f"log_image {name!r}: images are kept with a step; log it on the step's run "
                "(Run.get_context().log_image), not on run.parent"
            )
        if plot is not None:
            if not callable(getattr(plot, "savefig", None)):
                raise TypeError(
                    f"log_image {name!r}: plot must be matplotlib's pyplot or a Figure, got {plot!r}"
                )
            import io

            buffer = io.BytesIO()
            plot.savefig(buffer, format="png")
            data, suffix = buffer.getvalue(), ".png"
        else:
            data, suffix = _read_source(f"log_image {name!r}", path)
            suffix = suffix or ".png"
            if suffix not in _IMAGE_TYPES:
                raise ValueError(
                    f"log_image {name!r}: {path} is not an image file ({', '.join(_IMAGE_TYPES)})"
                )
        stored = self._store(IMAGES_FOLDER, _file_stem(name), suffix, data)
        self._add(name, _IMAGE, stored, description)
        return stored

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """What this run logged so far (by any process of the step), in v1's shape.

        `name` keeps that metric only; `recursive` answers `{run id: metrics}`, here for this run
        only (a script sees no other step's metrics), kept when `run_type` is None or this run's
        `type`. `populate` changes nothing: every value is held in full, none linked.
        """
        metrics = _filtered(self._metrics(), name)
        if not recursive:
            return metrics
        return {self.id: metrics} if run_type is None or run_type == self.type else {}

    def tag(self, key: str, value: str | None = None) -> None:
        """Tag the run with `key` (and a value: a string, or None); a later tag of a key replaces it."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any] | str) -> None:
        """Add or replace tags (`{key: value}`, or one key as a string); others are kept."""
        if isinstance(tags, str):
            tags = {tags: None}
        if not isinstance(tags, dict):
            raise TypeError(f"set_tags needs a dict of tags or a string, got {type(tags).__name__}")
        for key, value in tags.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"a tag key must be a non-empty string, got {key!r}")
            self._write_record({"name": key, "kind": _TAG, "value": _tag_value(key, value)})

    def get_tags(self) -> dict[str, str | None]:
        """The tags this run was given (in a script: by this step)."""
        summary = self._summary()
        return summary["parent"]["tags"] if self._run == _PARENT else summary["tags"]

    def upload_file(self, name: str, path_or_stream: Any, datastore_name: str | None = None) -> str:
        """Keep a file with the step's run: stored at `mlpipe/<dag_id>/<run_id>/<task_id>/files/<name>`
        on the step's datastore, or on `datastore_name` when given. Returns `files/<name>`.

        A name is uploaded once per step run (a second upload of it is an error, as in v1).
        """
        what = f"upload_file {name!r}"
        name = _check_relative("upload_file", name)
        if self._run == _PARENT:
            raise ValueError(
                f"{what}: files are kept with a step; upload it on the step's run, not on run.parent"
            )
        if datastore_name is not None and not _CONNECTION_ID.fullmatch(str(datastore_name)):
            raise ValueError(f"{what}: datastore_name {datastore_name!r} is not a datastore's name")
        data, _ = _read_source(what, path_or_stream)
        stored = self._store(FILES_FOLDER, name, "", data, exclusive_name=True)
        self._write_record({"name": name, "kind": _FILE, "value": stored, "datastore": datastore_name})
        return stored

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def _metrics(self) -> dict[str, Any]:
        return aggregate(read_records(self._metrics_file)[0], self._run)[0]

    def _summary(self) -> dict[str, Any]:
        return run_summary(read_records(self._metrics_file)[0])

    def _add(self, name: str, kind: str, value: Any, description: str, step: Any = None) -> None:
        wanted = _TABLE if kind in (_ROW, _TABLE_KIND) else _VALUES
        with self._lock:
            first_kind = self._firsts.setdefault(name, kind)
            known = self._kinds.setdefault(name, wanted)
            if known != wanted:
                how = _METHOD[first_kind] if known == _TABLE else "log or log_list"
                raise ValueError(
                    f"metric {name!r} was logged with {how}; it cannot also take {_METHOD[kind]}"
                )
            if kind == _SCALAR:
                stepped = self._stepped.setdefault(name, step is not None)
                if stepped != (step is not None):
                    raise ValueError(
                        f"metric {name!r}: give a step to every value of it or to none (as in v1)"
                    )
            record = {"name": name, "kind": kind, "value": value, "description": description}
            if step is not None:
                record["step"] = step
            self._write_record(record)

    def _write_record(self, record: dict[str, Any]) -> None:
        if self._run is not None:
            record["run"] = self._run
        self._write(record)

    def _store(self, folder: str, stem: str, suffix: str, data: bytes, exclusive_name: bool = False) -> str:
        """Write `data` to `<folder>/<stem><suffix>` beside the records file (a free name: `<stem>_2`...
        unless `exclusive_name`); returns that relative path."""
        base = os.path.join(os.path.dirname(os.path.abspath(self._metrics_file)), folder)
        for attempt in range(1, 10_000):
            relative = f"{stem}{suffix}" if attempt == 1 else f"{stem}_{attempt}{suffix}"
            target = os.path.join(base, *relative.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                with open(target, "xb") as handle:  # never two writers on one name
                    handle.write(data)
            except FileExistsError:
                if exclusive_name:
                    raise ValueError(f"{folder}/{relative} was already uploaded in this step run") from None
                continue
            return f"{folder}/{relative}"
        raise ValueError(f"too many files called {stem!r}")

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


_CONNECTION_ID = re.compile(r"[\w.-]+")


def _file_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "image"


def _read_source(what: str, source: Any) -> tuple[bytes, str]:
    """The bytes of a path or a binary stream, and the path's suffix (lower case; "" for a stream)."""
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return bytes(data), ""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"{what}: expected a file path or a binary stream, got {type(source).__name__}")
    try:
        with open(source, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ValueError(f"{what}: cannot read {source}: {error}") from None
    return data, os.path.splitext(os.fspath(source))[1].lower()


class OfflineRun(Run):
    """A script run by hand (v1's offline run): each record is printed and kept in memory."""

    def __init__(self) -> None:
        super().__init__("", f"OfflineRun_{uuid.uuid4()}")
        self._records: list[dict[str, Any]] = []

    def _metrics(self) -> dict[str, Any]:
        with self._lock:
            return aggregate(list(self._records))[0]

    def _summary(self) -> dict[str, Any]:
        with self._lock:
            return run_summary(list(self._records))

    def _store(self, folder: str, stem: str, suffix: str, data: bytes, exclusive_name: bool = False) -> str:
        return f"{folder}/{stem}{suffix}"  # nothing is kept offline

    def _write(self, record: dict[str, Any]) -> None:
        self._records.append(record)
        kind, name, shown = record["kind"], record["name"], record["value"]
        if kind == _TAG:
            print(f"Attempted to set tag {name} to {shown}", flush=True)
        elif kind == _FILE:
            print(f"Attempted to upload file {name}", flush=True)
        else:
            print(f"Attempted to log {kind} metric {name}:\n{shown}", flush=True)


def _reset_after_fork() -> None:
    """A child process must not inherit a lock another thread of its parent held."""
    Run._context_lock = threading.Lock()
    if Run._context is not None:
        Run._context._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)

"""Schedules' table in Airflow's metadata DB, shared by `Schedule` (local) and `/mlpipe/schedules`.

A schedule is one row of `mlpipe_schedule`: what it submits (a published pipeline, i.e. a DAG id,
or a pipeline endpoint), the experiment, a recurrence (v1's fields) or a datastore watch, the
checked run conf, the status and the anchor of a recurrence given without ``start_time``.

How a row becomes Airflow scheduling
------------------------------------
Airflow forbids the metadata DB to DAG files (the dag-processor parses them with the ORM
blocked) and to tasks, so the DAG source (`schedule_dags`) cannot read this table. Every change
therefore also rewrites the Airflow Variable `SCHEDULES_VARIABLE`: one JSON snapshot of every
schedule as the DAG source needs it (the target DAG already resolved, the conf already checked),
read at parse time through Airflow's own Variable channel. The snapshot is written in the
change's transaction after taking the write lock of `mlpipe_schedule_revision` (an UPDATE), so
two writers, even through two api-servers, never lose each other's schedule.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Column, DateTime, Float, Integer, String, Table, Text, select, update
from sqlalchemy.exc import IntegrityError

from airflow_provider_mlpipe.contract import (
    RUN_RECORD_KEY,
    SCHEDULE_DAG_PREFIX,
    SCHEDULE_RUN_PREFIX,
    SCHEDULES_VARIABLE,
)
from airflow_provider_mlpipe.registry_db import METADATA, ensure_tables

ACTIVE = "Active"
DISABLED = "Disabled"
STATUSES = (ACTIVE, DISABLED)
MAX_NAME_CHARS = 250
MAX_DESCRIPTION_CHARS = 1000
#: Longest datastore polling interval, in minutes (one week).
MAX_POLLING_MINUTES = 7 * 24 * 60
#: v1's recurrence fields, as the REST API and the table carry them.
RECURRENCE_FIELDS = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "week_days",
    "time_of_day",
)

SCHEDULES = Table(
    "mlpipe_schedule",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("name", String(MAX_NAME_CHARS), nullable=False),
    Column("description", Text, nullable=True),
    Column("pipeline_id", String(MAX_NAME_CHARS), nullable=True),
    Column("pipeline_endpoint_id", String(MAX_NAME_CHARS), nullable=True),
    Column("experiment_name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("recurrence", Text, nullable=True),  # JSON of RECURRENCE_FIELDS
    Column("anchored_at", DateTime(timezone=True), nullable=False),
    Column("datastore_name", String(MAX_NAME_CHARS), nullable=True),
    Column("path_on_datastore", Text, nullable=True),
    Column("polling_interval", Float, nullable=True),
    Column("data_path_parameter_name", String(MAX_NAME_CHARS), nullable=True),
    Column("continue_on_step_failure", Boolean, nullable=True),
    Column("parameter_assignments", Text, nullable=False),  # JSON
    Column("data_path_assignments", Text, nullable=False),  # JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(500), nullable=True),
)

#: One row (id 1) whose UPDATE serialises the writers of the snapshot Variable.
REVISION = Table(
    "mlpipe_schedule_revision",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", Integer, nullable=False),
)


class ScheduleError(ValueError):
    """A request the schedules cannot do; `status_code` is what the REST API answers (400, 403, 404)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def dag_id_of(schedule_id: str) -> str:
    """The id of the DAG that fires schedule `schedule_id`."""
    return f"{SCHEDULE_DAG_PREFIX}{schedule_id}"


def run_id_prefix(schedule_id: str) -> str:
    """What the id of every pipeline run that schedule `schedule_id` submits starts with."""
    return f"{SCHEDULE_RUN_PREFIX}{schedule_id}__"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# -- checks ----------------------------------------------------------------------------------------


def _text(value: Any, what: str, limit: int, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ScheduleError(f"{what} must be a {'non-empty ' if required else ''}string")
    if len(value) > limit:
        raise ScheduleError(f"{what} has {len(value)} characters; at most {limit} are allowed")
    return value


def check_recurrence(value: Any) -> dict[str, Any]:
    """v1's recurrence fields, checked by `ScheduleRecurrence`'s own rules; 400 naming the field."""
    from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence

    if not isinstance(value, dict):
        raise ScheduleError(f"recurrence must be an object with the fields {', '.join(RECURRENCE_FIELDS)}")
    unknown = sorted(str(key)[:40] for key in value if key not in RECURRENCE_FIELDS)
    if unknown:
        raise ScheduleError(
            f"recurrence: unknown field(s) {unknown}; allowed: {', '.join(RECURRENCE_FIELDS)}"
        )
    fields = {name: value.get(name) for name in RECURRENCE_FIELDS}
    if "frequency" not in value or "interval" not in value:
        raise ScheduleError("recurrence: frequency and interval are required")
    if isinstance(fields["time_zone"], str) and len(fields["time_zone"]) > 100:
        raise ScheduleError("recurrence: time_zone is longer than 100 characters")
    try:
        ScheduleRecurrence(**fields)
    except (ValueError, TypeError, OverflowError) as error:
        raise ScheduleError(f"recurrence: {error}") from None
    return fields


def effective_recurrence(fields: dict[str, Any], anchor: datetime) -> Any:
    """The `ScheduleRecurrence` that fires this schedule: without start_time, v1 counts from `anchor`.

    v1 starts counting a recurrence that has no ``start_time`` when the schedule is created, in UTC
    unless a time zone is given: ``anchor`` (the creation, or the last change of the recurrence),
    in that zone, becomes the start time.
    """
    from airflow_provider_mlpipe.authoring.schedule import ScheduleRecurrence, resolve_time_zone

    if fields.get("start_time") is None:
        zone = resolve_time_zone(fields["time_zone"]) if fields.get("time_zone") is not None else "UTC"
        local = _aware(anchor).astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)
        fields = {**fields, "start_time": local.isoformat(), "time_zone": fields.get("time_zone") or "UTC"}
    return ScheduleRecurrence(**fields)


def _check_timetable(fields: dict[str, Any], anchor: datetime) -> None:
    """400 when Airflow has no exact timetable for the recurrence (see `authoring.schedule`)."""
    try:
        effective_recurrence(fields, anchor).dag_kwargs()
    except NotImplementedError as error:
        raise ScheduleError(f"recurrence: {error}") from None
    except (ValueError, TypeError, OverflowError) as error:
        raise ScheduleError(f"recurrence: {error}") from None


def _check_polling_interval(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_POLLING_MINUTES:
        raise ScheduleError(
            f"polling_interval must be a number of minutes > 0 and <= {MAX_POLLING_MINUTES}, got {value!r}"[
                :200
            ]
        )
    return float(value)


def _check_datastore_name(value: Any) -> str:
    from airflow_provider_mlpipe.contract import CONNECTION_ID

    name = _text(value, "datastore", MAX_NAME_CHARS, required=True)
    assert name is not None
    if not CONNECTION_ID.fullmatch(name):
        raise ScheduleError(f"datastore {name[:60]!r} is not a datastore name (an Airflow connection id)")
    return name


def _target(
    session: Any, pipeline_id: str | None, endpoint_id: str | None
) -> tuple[str | None, bool, str | None]:
    """(the published pipeline a schedule submits now, whether it may, the endpoint's id), or 404.

    For a pipeline endpoint: its default version's pipeline, and whether the endpoint is Active.
    """
    if endpoint_id is not None:
        from airflow_provider_mlpipe import endpoints_db

        try:
            record = endpoints_db.get(endpoint_id)
            _, pipeline_id = endpoints_db.pipeline_of(record)
        except endpoints_db.EndpointError as error:
            raise ScheduleError(str(error), error.status_code) from None
        return pipeline_id, record["status"] == endpoints_db.ACTIVE, record["id"]
    return pipeline_id, True, None


def _published(
    session: Any, pipeline_id: str, cache: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    """({param: JSON type}, version) of published pipeline `pipeline_id`; 404 when there is none."""
    from airflow.models.dagbag import DBDagBag

    if cache is not None and pipeline_id in cache:
        return cache[pipeline_id]

    from airflow_provider_mlpipe.api.dags import published_version, tagged_dags
    from airflow_provider_mlpipe.api.submit import param_types
    from airflow_provider_mlpipe.contract import PUBLISHED_TAG

    found = tagged_dags(session, PUBLISHED_TAG, pipeline_id)
    dag = DBDagBag().get_latest_version_of_dag(pipeline_id, session=session) if found else None
    if dag is None:
        raise ScheduleError(
            f"no published pipeline {pipeline_id!r} (a DAG of Pipeline.publish that Airflow has parsed)", 404
        )
    answer = (param_types(dag), published_version(found[0]))
    if cache is not None:
        cache[pipeline_id] = answer
    return answer


def _conf(
    session: Any, row: dict[str, Any], pipeline_id: str | None, cache: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The run conf a schedule's runs get (checked like a REST submit), or None without a pipeline."""
    from airflow_provider_mlpipe.api.payload import PayloadError, check_submission

    if pipeline_id is None:
        return None
    types, version = _published(session, pipeline_id, cache)
    body: dict[str, Any] = {
        "ExperimentName": row["experiment_name"],
        "ParameterAssignments": json.loads(row["parameter_assignments"]),
        "DataPathAssignments": json.loads(row["data_path_assignments"]),
        "RunSource": "Schedule",
    }
    if row.get("description") is not None:
        body["Description"] = row["description"]
    if row.get("continue_on_step_failure") is not None:
        body["ContinueRunOnStepFailure"] = row["continue_on_step_failure"]
    try:
        submission = check_submission(body, types, pipeline_id, version)
    except PayloadError as error:
        raise ScheduleError(str(error)) from None
    parameter = row.get("data_path_parameter_name")
    if parameter is not None and "object" not in _types_of(types.get(parameter)):
        known = ", ".join(sorted(n for n, t in types.items() if "object" in _types_of(t))) or "none"
        raise ScheduleError(
            f"data_path_parameter_name: pipeline {pipeline_id!r} has no DataPath parameter "
            f"{parameter[:60]!r} (known: {known})"
        )
    submission.conf[RUN_RECORD_KEY]["schedule_id"] = row["id"]
    return submission.conf


def _types_of(schema_type: Any) -> list[Any]:
    return schema_type if isinstance(schema_type, list) else [schema_type]


# -- reading -------------------------------------------------------------------------------------


def _row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def record(row: dict[str, Any]) -> dict[str, Any]:
    """A schedule as the REST API and `Schedule` carry it (v1's names)."""
    recurrence = json.loads(row["recurrence"]) if row["recurrence"] else None
    return {
        "Id": row["id"],
        "Name": row["name"],
        "Description": row["description"],
        "PipelineId": row["pipeline_id"],
        "PipelineEndpointId": row["pipeline_endpoint_id"],
        "ExperimentName": row["experiment_name"],
        "Status": row["status"],
        "Recurrence": recurrence,
        "DataStoreName": row["datastore_name"],
        "PathOnDatastore": row["path_on_datastore"],
        "PollingInterval": row["polling_interval"],
        "DataPathParameterName": row["data_path_parameter_name"],
        "ContinueOnStepFailure": row["continue_on_step_failure"],
        "ParameterAssignments": json.loads(row["parameter_assignments"]),
        "DataPathAssignments": json.loads(row["data_path_assignments"]),
        "CreatedTime": _aware(row["created_at"]).isoformat(),
        "AnchorTime": _aware(row["anchored_at"]).isoformat(),
        "DagId": dag_id_of(row["id"]),
    }


def get_row(conn: Any, schedule_id: str) -> dict[str, Any]:
    found = conn.execute(select(SCHEDULES).where(SCHEDULES.c.id == schedule_id)).first()
    if found is None:
        raise ScheduleError(f"no schedule with id {schedule_id[:60]!r}", 404)
    return _row_dict(found)


def get(schedule_id: str, bind: Any = None) -> dict[str, Any]:
    """The schedule `schedule_id` (a record), or 404."""
    engine = ensure_tables(bind)
    with engine.connect() as conn:
        return record(get_row(conn, schedule_id))


def list_records(
    active_only: bool = True,
    pipeline_id: str | None = None,
    pipeline_endpoint_id: str | None = None,
    bind: Any = None,
) -> list[dict[str, Any]]:
    """Schedules by creation, as v1's `list`: by pipeline (or endpoint) all of them, else only Active ones
    unless `active_only=False`."""
    engine = ensure_tables(bind)
    query = select(SCHEDULES).order_by(SCHEDULES.c.created_at, SCHEDULES.c.id)
    if pipeline_id is not None:
        query = query.where(SCHEDULES.c.pipeline_id == pipeline_id)
    elif pipeline_endpoint_id is not None:
        query = query.where(SCHEDULES.c.pipeline_endpoint_id == pipeline_endpoint_id)
    elif active_only:
        query = query.where(SCHEDULES.c.status == ACTIVE)
    with engine.connect() as conn:
        return [record(_row_dict(row)) for row in conn.execute(query)]


def runs(session: Any, schedule_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The pipeline runs schedule `schedule_id` submitted, newest first: [{Id, PipelineId, ...}]."""
    from airflow.models.dagrun import DagRun

    query = (
        select(DagRun)
        .where(DagRun.run_id.startswith(run_id_prefix(schedule_id), autoescape=True))
        .order_by(DagRun.id.desc())
        .limit(limit)
    )
    found = []
    for run in session.scalars(query):
        record_ = (run.conf or {}).get(RUN_RECORD_KEY) or {}
        found.append(
            {"Id": run.run_id, "PipelineId": run.dag_id, "ExperimentName": record_.get("experiment_name")}
        )
    return found


# -- writing ----------------------------------------------------------------------------------------


def create(
    body: dict[str, Any], user: str | None = None, authorize: Any = None, bind: Any = None
) -> dict[str, Any]:
    """A new schedule from `body` (snake_case v1 names); `authorize(dag_id)` vets the target pipeline.

    `body`: name, pipeline_id or pipeline_endpoint_id, experiment_name, recurrence or datastore
    (+ path_on_datastore, polling_interval, data_path_parameter_name), description,
    parameter_assignments, data_path_assignments, continue_on_step_failure.
    """
    from airflow.utils.session import create_session

    now = _now()
    row = _checked_fields(body, creating=True)
    row.update(
        id=uuid.uuid4().hex, status=ACTIVE, anchored_at=now, created_at=now, updated_at=now, created_by=user
    )
    if row["recurrence"] is not None:
        _check_timetable(json.loads(row["recurrence"]), now)
    engine = ensure_tables(bind)
    with create_session() as session:
        pipeline, _, endpoint_id = _target(session, row["pipeline_id"], row["pipeline_endpoint_id"])
        if endpoint_id is not None:
            row["pipeline_endpoint_id"] = endpoint_id  # a name given is kept as the endpoint's id
        if authorize is not None and pipeline is not None:
            authorize(pipeline)
        _conf(session, row, pipeline)
    with engine.begin() as conn:
        conn.execute(SCHEDULES.insert().values(**row))
        publish_snapshot(conn)
        return record(get_row(conn, row["id"]))


def update_schedule(
    schedule_id: str, body: dict[str, Any], authorize: Any = None, bind: Any = None
) -> dict[str, Any]:
    """Change the fields `body` gives (None: unchanged), as v1's `update`; the DAG follows when parsed."""
    from airflow.utils.session import create_session

    engine = ensure_tables(bind)
    with engine.connect() as conn:
        current = get_row(conn, schedule_id)
    changes = _checked_fields(body, creating=False, current=current)
    merged = {**current, **changes}
    now = _now()
    if "recurrence" in changes:
        merged["anchored_at"] = changes["anchored_at"] = now
        _check_timetable(json.loads(merged["recurrence"]), now)
    if set(changes) - {"status", "name"}:  # what the runs get changes: check it as a submit would
        with create_session() as session:
            pipeline, _, _ = _target(session, merged["pipeline_id"], merged["pipeline_endpoint_id"])
            if authorize is not None and pipeline is not None:
                authorize(pipeline)
            _conf(session, merged, pipeline)
    with engine.begin() as conn:
        changes["updated_at"] = now
        conn.execute(update(SCHEDULES).where(SCHEDULES.c.id == schedule_id).values(**changes))
        publish_snapshot(conn)
        new = get_row(conn, schedule_id)
    if "status" in changes:
        set_dag_paused(schedule_id, new["status"] == DISABLED)
    return record(new)


def set_dag_paused(schedule_id: str, paused: bool) -> None:
    """Pause or unpause the schedule's DAG when Airflow has it (a new one is created paused if Disabled)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id_of(schedule_id))
        if model is not None:
            model.is_paused = paused


def _checked_fields(body: Any, creating: bool, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The table's columns from a create or update `body`, each checked (v1's rules); 400 otherwise."""
    if not isinstance(body, dict):
        raise ScheduleError("the request body must be a JSON object")
    allowed = CREATE_FIELDS if creating else UPDATE_FIELDS
    unknown = sorted(str(key)[:40] for key in body if key not in allowed)
    if unknown:
        raise ScheduleError(f"unknown field(s) {unknown}; allowed: {', '.join(allowed)}")
    given = {key: value for key, value in body.items() if value is not None}
    fields: dict[str, Any] = {}
    if creating or "name" in given:
        fields["name"] = _text(body.get("name"), "name", MAX_NAME_CHARS, required=True)
    if "description" in given:
        fields["description"] = _text(given["description"], "description", MAX_DESCRIPTION_CHARS)
    if "status" in given:
        if given["status"] not in STATUSES:
            raise ScheduleError(f"status must be 'Active' or 'Disabled', got {str(given['status'])[:40]!r}")
        fields["status"] = given["status"]
    if "continue_on_step_failure" in given:
        if not isinstance(given["continue_on_step_failure"], bool):
            raise ScheduleError("continue_on_step_failure must be true or false")
        fields["continue_on_step_failure"] = given["continue_on_step_failure"]
    for key in ("parameter_assignments", "data_path_assignments"):
        if key in given:
            if not isinstance(given[key], dict):
                raise ScheduleError(f"{key} must be an object of parameter name -> value")
            fields[key] = json.dumps(given[key])
        elif creating:
            fields[key] = "{}"
    if creating:
        _creation_fields(given, fields)
        return fields
    assert current is not None
    is_recurrence = current["recurrence"] is not None
    if "recurrence" in given:
        if not is_recurrence:
            raise ScheduleError(
                "a datastore schedule cannot get a recurrence (v1's rule); create a new schedule"
            )
        fields["recurrence"] = json.dumps(check_recurrence(given["recurrence"]))
    watch = ("datastore", "path_on_datastore", "polling_interval", "data_path_parameter_name")
    if is_recurrence and any(key in given for key in watch if key != "polling_interval"):
        raise ScheduleError(
            "datastore, path_on_datastore and data_path_parameter_name are for datastore schedules; "
            "this one has a recurrence"
        )
    if not is_recurrence:
        if "datastore" in given:
            fields["datastore_name"] = _check_datastore_name(given["datastore"])
        if "path_on_datastore" in given:
            fields["path_on_datastore"] = _text(given["path_on_datastore"], "path_on_datastore", 10_000)
        if "polling_interval" in given:
            fields["polling_interval"] = _check_polling_interval(given["polling_interval"])
        if "data_path_parameter_name" in given:
            fields["data_path_parameter_name"] = _text(
                given["data_path_parameter_name"], "data_path_parameter_name", MAX_NAME_CHARS, required=True
            )
    return fields


def _creation_fields(given: dict[str, Any], fields: dict[str, Any]) -> None:
    from airflow_provider_mlpipe.api.limits import EXPERIMENT_NAME_PATTERN

    pipeline_id = _text(given.get("pipeline_id"), "pipeline_id", MAX_NAME_CHARS)
    endpoint_id = _text(given.get("pipeline_endpoint_id"), "pipeline_endpoint_id", MAX_NAME_CHARS)
    if (pipeline_id is None) == (endpoint_id is None):
        raise ScheduleError("give exactly one of pipeline_id and pipeline_endpoint_id")
    fields["pipeline_id"], fields["pipeline_endpoint_id"] = pipeline_id, endpoint_id
    experiment = given.get("experiment_name")
    if not isinstance(experiment, str) or not EXPERIMENT_NAME_PATTERN.fullmatch(experiment):
        raise ScheduleError(
            "experiment_name is required: 1-255 letters, digits, '_' or '-', starting with a letter or digit"
        )
    fields["experiment_name"] = experiment
    fields.setdefault("description", None)
    fields.setdefault("continue_on_step_failure", None)
    recurrence, datastore = given.get("recurrence"), given.get("datastore")
    if recurrence is not None:
        if datastore is not None:
            raise ScheduleError("give a recurrence or a datastore, not both (v1's rule)")
        for key in ("data_path_parameter_name", "path_on_datastore"):
            if given.get(key) is not None:
                raise ScheduleError(f"{key} is only for datastore schedules (v1's rule)")
        fields["recurrence"] = json.dumps(check_recurrence(recurrence))
        fields.update(
            datastore_name=None, path_on_datastore=None, polling_interval=None, data_path_parameter_name=None
        )
        return
    if datastore is None:
        raise ScheduleError("give a recurrence (a time schedule) or a datastore (a datastore schedule)")
    fields["recurrence"] = None
    fields["datastore_name"] = _check_datastore_name(datastore)
    fields["path_on_datastore"] = _text(given.get("path_on_datastore"), "path_on_datastore", 10_000)
    fields["polling_interval"] = _check_polling_interval(given.get("polling_interval", 5))
    parameter = given.get("data_path_parameter_name")
    fields["data_path_parameter_name"] = (
        None
        if parameter is None
        else _text(parameter, "data_path_parameter_name", MAX_NAME_CHARS, required=True)
    )


UPDATE_FIELDS = (
    "name",
    "description",
    "recurrence",
    "parameter_assignments",
    "data_path_assignments",
    "status",
    "datastore",
    "polling_interval",
    "data_path_parameter_name",
    "continue_on_step_failure",
    "path_on_datastore",
)
CREATE_FIELDS = (
    "name",
    "pipeline_id",
    "pipeline_endpoint_id",
    "experiment_name",
    "recurrence",
    "description",
    "parameter_assignments",
    "data_path_assignments",
    "datastore",
    "polling_interval",
    "data_path_parameter_name",
    "continue_on_step_failure",
    "path_on_datastore",
)


# -- the snapshot the DAG source reads ------------------------------------------------------------


def publish_snapshot(conn: Any = None, bind: Any = None) -> int:
    """Rewrite the Variable `SCHEDULES_VARIABLE` from the table, in `conn`'s transaction; its revision.

    Without `conn`, in a transaction of its own: what a change of a pipeline endpoint's default
    version calls, so that the endpoint's schedules submit the new default from their next parse.
    """
    if conn is None:
        with ensure_tables(bind).begin() as own:
            return publish_snapshot(own)
    from airflow.utils.session import create_session

    revision = _next_revision(conn)
    rows = [
        _row_dict(row)
        for row in conn.execute(select(SCHEDULES).order_by(SCHEDULES.c.created_at, SCHEDULES.c.id))
    ]
    cache: dict[str, Any] = {}
    with create_session() as session:
        specs = [_spec(session, row, cache) for row in rows]
    text = json.dumps({"revision": revision, "schedules": specs}, sort_keys=True, separators=(",", ":"))
    _write_variable(conn, text)
    return revision


def endpoint_changed(endpoint_id: str, bind: Any = None) -> None:
    """Follow a change of pipeline endpoint `endpoint_id` (default version, status): its schedules'
    DAGs submit what it points to now from their next parse. Call it after the change is committed."""
    engine = ensure_tables(bind)
    with engine.connect() as conn:
        query = select(SCHEDULES.c.id).where(SCHEDULES.c.pipeline_endpoint_id == endpoint_id).limit(1)
        if conn.execute(query).first() is None:
            return
    publish_snapshot(bind=bind)


def _next_revision(conn: Any) -> int:
    """Take the snapshot's write lock (the UPDATE of row 1) and return the new revision."""
    for _ in range(2):
        changed = conn.execute(
            update(REVISION).where(REVISION.c.id == 1).values(revision=REVISION.c.revision + 1)
        )
        if changed.rowcount:
            return int(conn.execute(select(REVISION.c.revision).where(REVISION.c.id == 1)).scalar())
        try:
            with conn.begin_nested():
                conn.execute(REVISION.insert().values(id=1, revision=1))
            return 1
        except IntegrityError:  # another writer inserted it first: take its lock instead
            continue
    raise RuntimeError("mlpipe_schedule_revision: could not take the snapshot lock")


def _spec(session: Any, row: dict[str, Any], cache: dict[str, Any]) -> dict[str, Any]:
    """What the DAG source needs of one schedule: all plain values, the target resolved now."""
    spec: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "pipeline_id": row["pipeline_id"],
        "pipeline_endpoint_id": row["pipeline_endpoint_id"],
        "datastore_name": row["datastore_name"],
        "path_on_datastore": row["path_on_datastore"],
        "polling_interval": row["polling_interval"],
        "data_path_parameter_name": row["data_path_parameter_name"],
        "note": row["description"],
        "target": None,
        "target_active": False,
        "conf": None,
        "problem": None,
        "recurrence": None,
    }
    try:
        if row["recurrence"]:
            effective = effective_recurrence(json.loads(row["recurrence"]), row["anchored_at"])
            spec["recurrence"] = {name: getattr(effective, name) for name in RECURRENCE_FIELDS}
            if isinstance(spec["recurrence"]["start_time"], datetime):
                spec["recurrence"]["start_time"] = spec["recurrence"]["start_time"].isoformat()
            tz = spec["recurrence"]["time_zone"]
            spec["recurrence"]["time_zone"] = getattr(tz, "value", tz)
        target, active, _ = _target(session, row["pipeline_id"], row["pipeline_endpoint_id"])
        spec["target"], spec["target_active"] = target, active
        spec["conf"] = _conf(session, row, target, cache)
    except (ScheduleError, ValueError) as error:  # the pipeline or endpoint is gone or changed
        spec["problem"] = str(error)[:1000]
    return spec


def _write_variable(conn: Any, text: str) -> None:
    from airflow.models.variable import Variable
    from sqlalchemy.orm import Session

    session = Session(bind=conn)
    try:
        Variable.set(
            SCHEDULES_VARIABLE,
            text,
            description="mlpipe schedules, as the schedule DAGs are built from them (written by mlpipe)",
            session=session,
        )
        session.flush()
    finally:
        session.close()

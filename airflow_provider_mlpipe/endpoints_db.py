"""Pipeline endpoints' tables in Airflow's metadata DB, shared by `PipelineEndpoint` and `/mlpipe/endpoints`.

Where it lives, and why: in the metadata DB of the deployment (`registry_db.METADATA`), as the
tables `mlpipe_pipeline_endpoint` (one row per endpoint: id, unique name, description, status,
default version, the next version number) and `mlpipe_pipeline_endpoint_version` (one row per
version: its number and the published pipeline, i.e. the DAG id, it points to). That DB is
durable, transactional and already shared by every api-server, scheduler and worker, so an
endpoint added through one api-server is submitted through another at once; a notebook on the
embedded local Airflow uses its own AIRFLOW_HOME's DB the same way. An Airflow Variable would be
one unlocked JSON value (two writers lose a version), a file is not seen by other machines.

Versions are allocated in one transaction: it first increments the endpoint's `next_version`
(an UPDATE, which takes the row's write lock on PostgreSQL and MySQL and the database's on
SQLite), so two concurrent `add`s, even through two api-servers, get distinct numbers; the
primary key (endpoint, version) and the unique (endpoint, pipeline) refuse any duplicate anyway.
Each change is written with an entry in Airflow's audit log (`Log`, events
`mlpipe.endpoint.<action>`) in the same transaction.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from airflow_provider_mlpipe.api import limits
from airflow_provider_mlpipe.registry_db import METADATA, ensure_tables

ACTIVE = "Active"
DISABLED = "Disabled"
STATUSES = (ACTIVE, DISABLED)
#: Longest endpoint name and pipeline id (Airflow's DAG id length; names follow its DAG id rule),
#: and description (as a run's): the API's limits (`api/limits.py`, plain constants).
MAX_NAME_CHARS = limits.MAX_NAME_CHARS
MAX_DESCRIPTION_CHARS = limits.MAX_DESCRIPTION_CHARS
#: Prefix of the audit log events (Airflow's `Log.event`, at most 60 characters).
AUDIT_EVENT_PREFIX = "mlpipe.endpoint."
_NAME = re.compile(r"[\w.-]+")

ENDPOINTS = Table(
    "mlpipe_pipeline_endpoint",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("name", String(MAX_NAME_CHARS), nullable=False),
    Column("description", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("default_version", Integer, nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(500), nullable=True),
    UniqueConstraint("name", name="mlpipe_pipeline_endpoint_name_uq"),
)

VERSIONS = Table(
    "mlpipe_pipeline_endpoint_version",
    METADATA,
    Column(
        "endpoint_id",
        String(36),
        ForeignKey("mlpipe_pipeline_endpoint.id", ondelete="CASCADE", name="mlpipe_pe_version_endpoint_fk"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("pipeline_id", String(MAX_NAME_CHARS), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(500), nullable=True),
    PrimaryKeyConstraint("endpoint_id", "version", name="mlpipe_pe_version_pk"),
    UniqueConstraint("endpoint_id", "pipeline_id", name="mlpipe_pe_version_pipeline_uq"),
)


class EndpointError(ValueError):
    """A request the endpoints cannot do; `status_code` is what the REST API answers (404, 409, 400)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _record(row: Any, versions: list[Any]) -> dict[str, Any]:
    """An endpoint as plain values (versions as text, in order)."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "status": row.status,
        "default_version": str(row.default_version),
        "versions": [{"version": str(v.version), "pipeline_id": v.pipeline_id} for v in versions],
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "created_by": row.created_by,
    }


def _read(conn: Any, endpoint_id: str) -> dict[str, Any]:
    row = conn.execute(select(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id)).first()
    if row is None:
        raise EndpointError(f"no pipeline endpoint with id {endpoint_id!r}", 404)
    versions = conn.execute(
        select(VERSIONS).where(VERSIONS.c.endpoint_id == endpoint_id).order_by(VERSIONS.c.version)
    ).all()
    return _record(row, list(versions))


def _resolve_id(conn: Any, id: str | None = None, name: str | None = None) -> str:  # noqa: A002
    """The id of the endpoint `id` (else `name`); with only `id`, a name is accepted there too."""
    if id is not None:
        found = conn.execute(select(ENDPOINTS.c.id).where(ENDPOINTS.c.id == id)).scalar()
        if found is None and name is None:
            found = conn.execute(select(ENDPOINTS.c.id).where(ENDPOINTS.c.name == id)).scalar()
        if found is None:
            raise EndpointError(f"no pipeline endpoint with id {id!r}", 404)
        return found
    if name is not None:
        found = conn.execute(select(ENDPOINTS.c.id).where(ENDPOINTS.c.name == name)).scalar()
        if found is None:
            raise EndpointError(f"no pipeline endpoint called {name!r}", 404)
        return found
    raise EndpointError("give the pipeline endpoint's id or name", 400)


def get(id: str | None = None, name: str | None = None, bind: Any = None) -> dict[str, Any]:  # noqa: A002
    """The endpoint with `id` (or, when no id has it, the one called so) or called `name`."""
    engine = ensure_tables(bind)
    with engine.connect() as conn:
        return _read(conn, _resolve_id(conn, id, name))


def list_all(
    active_only: bool = True, max_results: int | None = None, bind: Any = None
) -> list[dict[str, Any]]:
    """Every endpoint by name (only Active ones with `active_only`), at most `max_results`."""
    engine = ensure_tables(bind)
    with engine.connect() as conn:
        query = select(ENDPOINTS).order_by(ENDPOINTS.c.name)
        if active_only:
            query = query.where(ENDPOINTS.c.status == ACTIVE)
        if max_results is not None:
            query = query.limit(max_results)
        rows = conn.execute(query).all()
        versions: dict[str, list[Any]] = {row.id: [] for row in rows}
        if rows:
            found = conn.execute(
                select(VERSIONS)
                .where(VERSIONS.c.endpoint_id.in_(list(versions)))
                .order_by(VERSIONS.c.version)
            )
            for version in found:
                versions[version.endpoint_id].append(version)
        return [_record(row, versions[row.id]) for row in rows]


def version_number(version: Any) -> int:
    """A version given as v1 does ("0", "1"...; an int is taken too) as its number; 400 otherwise."""
    if isinstance(version, bool) or not isinstance(version, str | int):
        raise EndpointError(f"a version is a string of digits such as '0', got {type(version).__name__}", 400)
    text = str(version).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise EndpointError(f"version {text[:20]!r} is not a version number such as '0' or '1'", 400)
    return int(text)


def pipeline_of(record: dict[str, Any], version: Any = None) -> tuple[str, str]:
    """(version, pipeline id) of `version` of the endpoint `record`, or of its default version."""
    wanted = record["default_version"] if version is None else str(version_number(version))
    for item in record["versions"]:
        if item["version"] == wanted:
            return wanted, item["pipeline_id"]
    known = ", ".join(item["version"] for item in record["versions"])
    raise EndpointError(
        f"pipeline endpoint {record['name']!r} has no version {wanted!r} (versions: {known})", 404
    )


def _audit(
    conn: Any, action: str, user: str | None, record: dict[str, Any], dag_id: str | None, **extra: Any
) -> None:
    """An entry in Airflow's audit log (the UI's Audit Log page), in the change's transaction."""
    from airflow.models.log import Log

    details = {"endpoint_id": record["id"], "endpoint_name": record["name"], **extra}
    conn.execute(
        Log.__table__.insert().values(
            dttm=_now(),
            event=AUDIT_EVENT_PREFIX + action,
            dag_id=dag_id,
            owner=user,
            owner_display_name=user,
            extra=json.dumps(details, default=str),
        )
    )


def create(
    name: str, description: str | None, pipeline_id: str, user: str | None = None, bind: Any = None
) -> dict[str, Any]:
    """A new endpoint `name` whose version "0" (its default) is `pipeline_id`; 409 if the name is taken."""
    engine = ensure_tables(bind)
    endpoint_id = str(uuid.uuid4())
    now = _now()
    try:
        with engine.begin() as conn:
            conn.execute(
                ENDPOINTS.insert().values(
                    id=endpoint_id,
                    name=name,
                    description=description,
                    status=ACTIVE,
                    default_version=0,
                    next_version=1,
                    created_at=now,
                    updated_at=now,
                    created_by=user,
                )
            )
            conn.execute(
                VERSIONS.insert().values(
                    endpoint_id=endpoint_id,
                    version=0,
                    pipeline_id=pipeline_id,
                    created_at=now,
                    created_by=user,
                )
            )
            record = _read(conn, endpoint_id)
            _audit(conn, "publish", user, record, pipeline_id, version="0", pipeline_id=pipeline_id)
    except IntegrityError:
        raise EndpointError(
            f"a pipeline endpoint called {name!r} already exists; choose another name", 409
        ) from None
    return record


def add_version(
    endpoint_id: str, pipeline_id: str, make_default: bool, user: str | None = None, bind: Any = None
) -> dict[str, Any]:
    """Add `pipeline_id` as the endpoint's next version (and make it the default); 409 if it is there."""
    engine = ensure_tables(bind)
    now = _now()
    try:
        with engine.begin() as conn:
            # Take the endpoint's write lock first: concurrent adds wait here, then number after us.
            changed = conn.execute(
                update(ENDPOINTS)
                .where(ENDPOINTS.c.id == endpoint_id)
                .values(next_version=ENDPOINTS.c.next_version + 1, updated_at=now)
            )
            if changed.rowcount == 0:
                raise EndpointError(f"no pipeline endpoint with id {endpoint_id!r}", 404)
            number = conn.execute(
                select(ENDPOINTS.c.next_version).where(ENDPOINTS.c.id == endpoint_id)
            ).scalar()
            number -= 1
            taken = conn.execute(
                select(VERSIONS.c.version).where(
                    VERSIONS.c.endpoint_id == endpoint_id, VERSIONS.c.pipeline_id == pipeline_id
                )
            ).scalar()
            if taken is not None:
                raise EndpointError(
                    f"pipeline {pipeline_id!r} is already version {taken} of this endpoint; "
                    "set_default(...) or set_default_version(...) makes it the default",
                    409,
                )
            conn.execute(
                VERSIONS.insert().values(
                    endpoint_id=endpoint_id,
                    version=number,
                    pipeline_id=pipeline_id,
                    created_at=now,
                    created_by=user,
                )
            )
            if make_default:
                conn.execute(
                    update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id).values(default_version=number)
                )
            record = _read(conn, endpoint_id)
            action = "add_default" if make_default else "add"
            _audit(conn, action, user, record, pipeline_id, version=str(number), pipeline_id=pipeline_id)
    except IntegrityError:  # the unique (endpoint, pipeline) of a concurrent add of the same pipeline
        raise EndpointError(f"pipeline {pipeline_id!r} is already a version of this endpoint", 409) from None
    return record


def set_default(
    endpoint_id: str,
    version: Any = None,
    pipeline_id: str | None = None,
    user: str | None = None,
    bind: Any = None,
) -> dict[str, Any]:
    """Make `version` (or the version of `pipeline_id`) the endpoint's default; 404 if it has none such."""
    engine = ensure_tables(bind)
    with engine.begin() as conn:
        record = _read(conn, endpoint_id)
        if pipeline_id is not None:
            found = [v["version"] for v in record["versions"] if v["pipeline_id"] == pipeline_id]
            if not found:
                raise EndpointError(
                    f"pipeline {pipeline_id!r} is not a version of pipeline endpoint {record['name']!r}; "
                    "add(...) or add_default(...) adds it",
                    404,
                )
            wanted = found[0]
        else:
            wanted, _ = pipeline_of(record, version)
        conn.execute(
            update(ENDPOINTS)
            .where(ENDPOINTS.c.id == endpoint_id)
            .values(default_version=int(wanted), updated_at=_now())
        )
        record = _read(conn, endpoint_id)
        _, dag_id = pipeline_of(record)
        _audit(conn, "set_default", user, record, dag_id, version=wanted, pipeline_id=dag_id)
    return record


def change(
    endpoint_id: str,
    action: str,
    user: str | None = None,
    name: str | None = None,
    status: str | None = None,
    description: str | None = None,
    bind: Any = None,
) -> dict[str, Any]:
    """Set the name, status and/or description (`action` names the change in the audit log)."""
    values: dict[str, Any] = {"updated_at": _now()}
    if name is not None:
        values["name"] = name
    if status is not None:
        if status not in STATUSES:
            raise EndpointError(f"status must be one of {', '.join(STATUSES)}, got {status!r}", 400)
        values["status"] = status
    if description is not None:
        values["description"] = description
    engine = ensure_tables(bind)
    try:
        with engine.begin() as conn:
            changed = conn.execute(update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id).values(**values))
            if changed.rowcount == 0:
                raise EndpointError(f"no pipeline endpoint with id {endpoint_id!r}", 404)
            record = _read(conn, endpoint_id)
            shown = {k: v for k, v in values.items() if k != "updated_at"}
            _audit(conn, action, user, record, None, **shown)
    except IntegrityError:
        raise EndpointError(
            f"a pipeline endpoint called {name!r} already exists; choose another name", 409
        ) from None
    return record


def resolve(id: str | None = None, name: str | None = None, bind: Any = None) -> str:  # noqa: A002
    """The id of the endpoint `id` or `name` (see `get`)."""
    engine = ensure_tables(bind)
    with engine.connect() as conn:
        return _resolve_id(conn, id, name)


def check_name(value: Any, what: str = "name") -> str:
    """`value` if it is a valid endpoint name or pipeline id (Airflow's DAG id rule); 400 otherwise."""
    if not isinstance(value, str) or not value:
        raise EndpointError(f"{what} is required (a non-empty string)", 400)
    if len(value) > MAX_NAME_CHARS or not _NAME.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise EndpointError(
            f"{what} {shown!r} must be 1-{MAX_NAME_CHARS} letters, digits, '_', '.' or '-' "
            "(Airflow's DAG id rule, so that it can be a URL path segment)",
            400,
        )
    return value


def check_description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EndpointError("description must be a string", 400)
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise EndpointError(
            f"description has {len(value)} characters; at most {MAX_DESCRIPTION_CHARS} are allowed", 400
        )
    return value

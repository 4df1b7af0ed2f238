"""What a workspace holds, read from the metadata DB: its datastores, experiments and compute
targets. Shared by the `/mlpipe` routes (a remote `Workspace`) and the embedded local workspace,
so both answer alike.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, status

from airflow_provider_mlpipe.api.dags import GetUserDep
from airflow_provider_mlpipe.contract import (
    CONNECTION_ID,
    DEFAULT_DATASTORE_VARIABLE,
    PIPELINE_TAG,
    RUN_RECORD_KEY,
)

#: Connection types that are datastores, and those a step's compute_target names (-> v1's type).
DATASTORE_CONN_TYPES = ("mlpipe_local", "mlpipe_blob", "wasb", "wasbs")
COMPUTE_CONN_TYPES = {"databricks": "Databricks", "mlpipe_adla": "AdlaCompute"}
#: The most runs read to collect experiment names.
MAX_RUNS_SCANNED = 10_000


def datastore_catalog(session: Any) -> dict[str, Any]:
    """`{"Default": name, "Datastores": [{"Name", "Type"}]}`: the connections that are datastores
    (metadata DB and `AIRFLOW_CONN_*`), and the default one."""
    from airflow_provider_mlpipe.hooks.resolve import EMBEDDED_DEFAULT_NAME, default_datastore_name

    found = {name: kind for name, kind in _connections(session) if kind in DATASTORE_CONN_TYPES}
    default = default_datastore_name()
    if default == EMBEDDED_DEFAULT_NAME or EMBEDDED_DEFAULT_NAME not in found:
        found.setdefault(EMBEDDED_DEFAULT_NAME, "mlpipe_local")
    found.setdefault(default, "unknown")
    return {"Default": default, "Datastores": [{"Name": n, "Type": t} for n, t in sorted(found.items())]}


def compute_catalog(session: Any) -> list[dict[str, str]]:
    """`[{"Name", "Type"}]`: Databricks and Data Lake Analytics connections, and the default queue
    (a PythonScriptStep's compute target is any Airflow queue)."""
    from airflow.configuration import conf

    targets = {
        name: COMPUTE_CONN_TYPES[kind] for name, kind in _connections(session) if kind in COMPUTE_CONN_TYPES
    }
    targets.setdefault(conf.get("operators", "default_queue", fallback="default"), "AirflowQueue")
    return [{"Name": name, "Type": kind} for name, kind in sorted(targets.items())]


def experiment_names(session: Any, dag_ids: set[str] | None = None) -> list[str]:
    """The experiments that have runs of pipeline DAGs (those in `dag_ids` when given), sorted."""
    from airflow.models.dag import DagTag
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    pipelines = select(DagTag.dag_id).where(DagTag.name == PIPELINE_TAG)
    query = select(DagRun.dag_id, DagRun.conf).where(DagRun.dag_id.in_(pipelines))
    query = query.order_by(DagRun.id.desc()).limit(MAX_RUNS_SCANNED)
    names = set()
    for dag_id, conf in session.execute(query):
        record = (conf or {}).get(RUN_RECORD_KEY) or {}
        if (dag_ids is None or dag_id in dag_ids) and isinstance(record.get("experiment_name"), str):
            names.add(record["experiment_name"])
    return sorted(names)


def set_default_datastore(session: Any, name: str) -> None:
    """Make `name` the default datastore (the Airflow Variable `mlpipe_default_datastore`)."""
    from airflow.models import Variable

    check_datastore_name(name)
    Variable.set(
        DEFAULT_DATASTORE_VARIABLE, name, description="mlpipe: the default datastore", session=session
    )


def check_datastore_name(name: Any) -> str:
    if not isinstance(name, str) or not CONNECTION_ID.fullmatch(name) or len(name) > 250:
        raise ValueError(f"datastore name {name!r} is not a valid Airflow connection id")
    return name


def _connections(session: Any) -> list[tuple[str, str]]:
    """(conn_id, conn_type) of the connections in the metadata DB and in `AIRFLOW_CONN_*`."""
    import os

    from airflow.models.connection import Connection
    from sqlalchemy import select

    found = [tuple(row) for row in session.execute(select(Connection.conn_id, Connection.conn_type))]
    for key, value in os.environ.items():
        if key.startswith("AIRFLOW_CONN_") and value:
            try:
                conn = (
                    Connection.from_json(value) if value.lstrip().startswith("{") else Connection(uri=value)
                )
            except Exception:  # noqa: BLE001 - an unreadable variable is Airflow's to report, not ours
                continue
            found.append((key[len("AIRFLOW_CONN_") :].lower(), conn.conn_type or ""))
    return [(conn_id, conn_type or "") for conn_id, conn_type in found]


def add_catalog(app: FastAPI) -> None:
    """`GET /datastores`, `PUT /datastores/default`, `GET /experiments`, `GET /compute`."""

    def allowed(user: Any, method: str, what: str) -> None:
        from airflow.api_fastapi.app import get_auth_manager

        if not get_auth_manager().is_authorized_connection(method=method, user=user):  # type: ignore[arg-type]
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"not allowed to {what}")

    @app.get("/datastores")
    def list_datastores(user: GetUserDep) -> dict[str, Any]:
        from airflow.utils.session import create_session

        allowed(user, "GET", "read connections")
        with create_session() as session:
            return datastore_catalog(session)

    @app.put("/datastores/default")
    def put_default_datastore(user: GetUserDep, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.utils.session import create_session

        if not get_auth_manager().is_authorized_variable(method="PUT", user=user):  # type: ignore[arg-type]
            raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed to change variables")
        name = body.get("Name") if isinstance(body, dict) else None
        try:
            check_datastore_name(name)
        except ValueError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        with create_session() as session:
            set_default_datastore(session, name)
            return datastore_catalog(session)

    @app.get("/experiments")
    def list_experiments(user: GetUserDep) -> dict[str, Any]:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.utils.session import create_session

        permitted = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        with create_session() as session:
            return {"Experiments": experiment_names(session, set(permitted))}

    @app.get("/compute")
    def list_compute(user: GetUserDep) -> dict[str, Any]:
        from airflow.utils.session import create_session

        allowed(user, "GET", "read connections")
        with create_session() as session:
            return {"ComputeTargets": compute_catalog(session)}

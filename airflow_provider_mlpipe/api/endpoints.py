"""`/mlpipe/endpoints`: v1's pipeline endpoints (a name with numbered versions of published pipelines).

An endpoint lives in the metadata DB (`endpoints_db`), so every api-server answers the same. What
a user may do follows the auth manager's verdict on the DAGs involved: reading an endpoint needs
read on every pipeline it points to; publishing, adding, changing the default, renaming, enabling
or disabling needs edit (PUT) on each of them (and on the one added); a submit needs the run right
on the version's pipeline, as `POST /pipelines/{name}/submit` does, and creates the run the same
way (`submit.start_run`). `{endpoint}` in a path is the endpoint's id or, when no id matches, its
name. Answers use v1's REST shape (`Id`, `Name`, `DefaultVersion`, `PipelineVersionList`...).

    GET   /endpoints?active_only=true&max_results=100    POST  /endpoints {Name, Description, PipelineId}
    GET   /endpoints/{endpoint}                          PATCH /endpoints/{endpoint} {Name, Status...}
    GET   /endpoints/{endpoint}/pipelines?active_only=   POST  /endpoints/{endpoint}/enable, /disable
    POST  /endpoints/{endpoint}/versions {PipelineId, SetDefault}
    POST  /endpoints/{endpoint}/default {Version} or {PipelineId}
    POST  /endpoints/{endpoint}/submit   v1's submit body plus PipelineVersion (default: the default version)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Body, FastAPI, HTTPException, Query, Request, status

from airflow_provider_mlpipe import endpoints_db as store
from airflow_provider_mlpipe.api import limits
from airflow_provider_mlpipe.api.dags import GetUserDep, dag_allowed, published_record, tagged_dags
from airflow_provider_mlpipe.api.guards import DagIdPath
from airflow_provider_mlpipe.api.submit import api_root, start_run
from airflow_provider_mlpipe.contract import PUBLISHED_TAG
from airflow_provider_mlpipe.schedules_db import endpoint_changed

#: The submit body's field that names the version (v1's `PipelineVersion`); the rest is v1's submit body.
VERSION_FIELD = "PipelineVersion"

T = TypeVar("T")


def _store(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a store call; its refusals become the HTTP answer they name (404, 409, 400)."""
    try:
        return call(*args, **kwargs)
    except store.EndpointError as error:
        raise HTTPException(error.status_code, str(error)) from None


def endpoint_json(record: dict[str, Any], root: str) -> dict[str, Any]:
    """An endpoint in v1's REST shape; `Url` is where a run is submitted."""
    return {
        "Id": record["id"],
        "Name": record["name"],
        "Description": record["description"],
        "DefaultVersion": record["default_version"],
        "EntityStatus": record["status"],
        "PipelineVersionList": [
            {"Version": item["version"], "PipelineId": item["pipeline_id"]} for item in record["versions"]
        ],
        "Url": f"{root}/endpoints/{record['id']}/submit",
        "CreatedDate": record["created_at"],
        "LastModifiedDate": record["updated_at"],
        "CreatedBy": record["created_by"],
    }


def _pipelines(record: dict[str, Any]) -> list[str]:
    return [item["pipeline_id"] for item in record["versions"]]


def _require(user: Any, dag_ids: Iterable[str], method: str, doing: str, entity: str | None = None) -> None:
    for dag_id in dict.fromkeys(dag_ids):
        if not dag_allowed(user, dag_id, method, entity):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"not allowed to {doing}: no {method} right on {dag_id!r}"
            )


def _fields(
    body: Any, allowed: dict[str, type | tuple[type, ...]], required: Iterable[str] = ()
) -> dict[str, Any]:
    """`body` if it is a JSON object of `allowed` fields of their types with the `required` ones; else 400."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the request body must be a JSON object")
    unknown = sorted(str(key)[:60] for key in body if key not in allowed)
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"unknown field(s) {', '.join(unknown[:5])}; allowed: {', '.join(allowed)}",
        )
    for name in required:
        if body.get(name) is None:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{name} is required")
    for name, value in body.items():
        kinds = allowed[name]
        if value is not None and (
            not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _tuple(kinds))
        ):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{name} must be {_kind_names(kinds)}")
    return body


def _tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false"}
    return " or ".join(names.get(kind, kind.__name__) for kind in _tuple(kinds))


def _published_pipeline(dag_id: Any) -> str:
    """`dag_id` if it names a published pipeline (404 otherwise)."""
    from airflow.utils.session import create_session

    dag_id = _store(store.check_name, dag_id, "PipelineId")
    with create_session() as session:
        if not tagged_dags(session, PUBLISHED_TAG, dag_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no published pipeline {dag_id!r}")
    return dag_id


def _readable(user: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The endpoints whose every pipeline the user may read."""
    from airflow.api_fastapi.app import get_auth_manager

    permitted = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    return [record for record in records if set(_pipelines(record)) <= permitted]


def _submit_version(body: Any, query_version: str | None) -> tuple[Any, Any]:
    """(the v1 submit body without PipelineVersion, the version asked for or None)."""
    version = query_version
    if isinstance(body, dict) and VERSION_FIELD in body:
        body = dict(body)
        in_body = body.pop(VERSION_FIELD)
        if in_body is not None:
            if version is not None and str(in_body) != version:
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST,
                    f"{VERSION_FIELD} {str(in_body)[:20]!r} and ?pipelineVersion={version[:20]!r} differ",
                )
            version = in_body
    if version is not None:
        _store(store.version_number, version)
    return body, version


def add_endpoints(app: FastAPI) -> None:
    """Add the `/endpoints` routes, and the monitoring page's `/monitor/api/endpoints`, to `app`."""

    def one(user: Any, endpoint: str) -> dict[str, Any]:
        """The endpoint `endpoint` (id or name), if the user may read it."""
        record = _store(store.get, endpoint)
        _require(user, _pipelines(record), "GET", f"read pipeline endpoint {record['name']!r}")
        return record

    def writable(user: Any, endpoint: str, also: Iterable[str] = ()) -> dict[str, Any]:
        """The endpoint, if the user may change it (edit right on each of its pipelines and `also`)."""
        record = _store(store.get, endpoint)
        doing = f"change pipeline endpoint {record['name']!r}"
        _require(user, [*_pipelines(record), *also], "PUT", doing)
        return record

    @app.get("/endpoints")
    def list_endpoints(
        request: Request,
        user: GetUserDep,
        active_only: bool = True,
        max_results: Annotated[int, Query(ge=1, le=limits.MAX_ENDPOINTS_LIMIT)] = 100,
    ) -> dict[str, Any]:
        records = _readable(user, _store(store.list_all, active_only))[:max_results]
        return {"PipelineEndpoints": [endpoint_json(record, api_root(request)) for record in records]}

    @app.post("/endpoints")
    def publish(request: Request, user: GetUserDep, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
        fields = _fields(body, {"Name": str, "Description": str, "PipelineId": str}, ("Name", "PipelineId"))
        name = _store(store.check_name, fields["Name"], "Name")
        description = _store(store.check_description, fields.get("Description"))
        _require(user, [fields["PipelineId"]], "PUT", f"publish pipeline endpoint {name!r}")
        pipeline_id = _published_pipeline(fields["PipelineId"])
        record = _store(store.create, name, description, pipeline_id, user.get_name())
        return endpoint_json(record, api_root(request))

    @app.get("/endpoints/{endpoint}")
    def get_endpoint(endpoint: DagIdPath, request: Request, user: GetUserDep) -> dict[str, Any]:
        return endpoint_json(one(user, endpoint), api_root(request))

    @app.get("/endpoints/{endpoint}/pipelines")
    def list_pipelines(
        endpoint: DagIdPath, request: Request, user: GetUserDep, active_only: bool = True
    ) -> dict[str, Any]:
        from airflow.utils.session import create_session

        record = one(user, endpoint)
        with create_session() as session:
            models = {
                m.dag_id: m for m in tagged_dags(session, PUBLISHED_TAG) if m.dag_id in _pipelines(record)
            }
            found = [
                published_record(models[dag_id], api_root(request))
                for dag_id in _pipelines(record)
                if dag_id in models
            ]
        if active_only:
            found = [pipeline for pipeline in found if pipeline["Status"] == "Active"]
        return {"Pipelines": found}

    @app.post("/endpoints/{endpoint}/versions")
    def add_version(
        endpoint: DagIdPath, request: Request, user: GetUserDep, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        fields = _fields(body, {"PipelineId": str, "SetDefault": bool}, ("PipelineId",))
        pipeline_id = _store(store.check_name, fields["PipelineId"], "PipelineId")
        record = writable(user, endpoint, [pipeline_id])
        _published_pipeline(pipeline_id)
        changed = _store(
            store.add_version, record["id"], pipeline_id, bool(fields.get("SetDefault")), user.get_name()
        )
        endpoint_changed(record["id"])
        return endpoint_json(changed, api_root(request))

    @app.post("/endpoints/{endpoint}/default")
    def set_default(
        endpoint: DagIdPath, request: Request, user: GetUserDep, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        fields = _fields(body, {"Version": (str, int), "PipelineId": str})
        if (fields.get("Version") is None) == (fields.get("PipelineId") is None):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "give either Version or PipelineId")
        record = writable(user, endpoint)
        changed = _store(
            store.set_default, record["id"], fields.get("Version"), fields.get("PipelineId"), user.get_name()
        )
        endpoint_changed(record["id"])
        return endpoint_json(changed, api_root(request))

    def set_status(endpoint: str, user: Any, request: Request, new_status: str) -> dict[str, Any]:
        record = writable(user, endpoint)
        action = "enable" if new_status == store.ACTIVE else "disable"
        changed = _store(store.change, record["id"], action, user.get_name(), status=new_status)
        endpoint_changed(record["id"])
        return endpoint_json(changed, api_root(request))

    @app.post("/endpoints/{endpoint}/enable")
    def enable(endpoint: DagIdPath, request: Request, user: GetUserDep) -> dict[str, Any]:
        return set_status(endpoint, user, request, store.ACTIVE)

    @app.post("/endpoints/{endpoint}/disable")
    def disable(endpoint: DagIdPath, request: Request, user: GetUserDep) -> dict[str, Any]:
        return set_status(endpoint, user, request, store.DISABLED)

    @app.patch("/endpoints/{endpoint}")
    def update(
        endpoint: DagIdPath, request: Request, user: GetUserDep, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        fields = _fields(body, {"Name": str, "Status": str, "Description": str})
        name = None if fields.get("Name") is None else _store(store.check_name, fields["Name"], "Name")
        description = _store(store.check_description, fields.get("Description"))
        new_status = fields.get("Status")
        if new_status is not None and new_status not in store.STATUSES:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"Status must be one of {', '.join(store.STATUSES)}"
            )
        record = writable(user, endpoint)
        changed = _store(
            store.change,
            record["id"],
            "update",
            user.get_name(),
            name=name,
            status=new_status,
            description=description,
        )
        endpoint_changed(record["id"])
        return endpoint_json(changed, api_root(request))

    @app.post("/endpoints/{endpoint}/submit")
    def submit(
        endpoint: DagIdPath,
        request: Request,
        user: GetUserDep,
        body: Annotated[Any, Body()] = None,
        pipeline_version: Annotated[str | None, Query(alias="pipelineVersion", max_length=20)] = None,
    ) -> dict[str, Any]:
        """v1's submit of an endpoint: the version `PipelineVersion` names (body, or v1's
        `?pipelineVersion=`), else the default one; 409 while the endpoint is disabled."""
        from airflow.utils.session import create_session

        body, version = _submit_version(body, pipeline_version)
        record = _store(store.get, endpoint)
        if record["status"] != store.ACTIVE:
            raise HTTPException(status.HTTP_409_CONFLICT, f"pipeline endpoint {record['name']!r} is disabled")
        version, dag_id = _store(store.pipeline_of, record, version)
        _require(user, [dag_id], "POST", f"submit pipeline endpoint {record['name']!r}", "RUN")
        submitted = {"pipeline_endpoint": {"id": record["id"], "name": record["name"], "version": version}}
        with create_session() as session:
            answer = start_run(session, dag_id, body, user, api_root(request), submitted)
        return {**answer, "PipelineEndpointId": record["id"], "PipelineVersion": version}

    @app.get("/monitor/api/endpoints", tags=["monitoring"])
    def monitor_endpoints(user: GetUserDep) -> dict[str, Any]:
        """Every endpoint the user may read (disabled ones too), with its versions and default."""
        shown = []
        for record in _readable(user, _store(store.list_all, False)):
            versions = [
                {**item, "is_default": item["version"] == record["default_version"]}
                for item in record["versions"]
            ]
            shown.append(
                {
                    **{k: record[k] for k in ("id", "name", "description", "status", "default_version")},
                    "versions": versions,
                }
            )
        return {"endpoints": shown}

"""v1's `PipelineEndpoint`: one name (and id) whose numbered versions ("0", "1"...) each point to a
published pipeline, one of them the default, submitted through one URL.

    endpoint = PipelineEndpoint.publish(ws, "scoring", "nightly", PublishedPipeline.get(ws, "score_v1"))
    endpoint.add_default(PublishedPipeline.get(ws, "score_v2"))      # version "1", now the default
    run = Experiment(ws, "nightly").submit(endpoint, pipeline_version="0")

The endpoints live in the workspace's Airflow metadata DB (`endpoints_db` says where and why):
a remote workspace reaches them through `/mlpipe/endpoints` with its user's rights; the embedded
local one reads and writes its own AIRFLOW_HOME's DB. A version's pipeline is a published
pipeline's id (its DAG id); locally, one published in this process (`Pipeline.publish`) is run.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_mlpipe.exceptions import ApiError
from airflow_provider_mlpipe.published import PublishedPipeline
from airflow_provider_mlpipe.runs import Experiment, PipelineRun

if TYPE_CHECKING:
    from airflow_provider_mlpipe.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Published pipelines made in this process (`Pipeline.publish`), by id: what a local endpoint runs.
_IN_PROCESS: dict[str, PublishedPipeline] = {}
_migrated: list[bool] = []


def _checked(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(...)`; a refusal of the endpoints' rules raised as the REST API answers it (`ApiError`)."""
    from airflow_provider_mlpipe import endpoints_db

    try:
        return call(*args, **kwargs)
    except endpoints_db.EndpointError as error:
        raise ApiError(str(error), error.status_code, str(error)) from None


def _local(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A call to the local workspace's tables (see `_checked`); the first one in this process
    migrates the metadata DB of a fresh AIRFLOW_HOME (each change goes to its audit log too)."""
    from airflow_provider_mlpipe.local_submit import ensure_airflow_db, register_published_here

    if not _migrated:
        ensure_airflow_db()
        _migrated.append(True)
    register_published_here()  # what this notebook published, for an endpoint of it
    return _checked(call, *args, **kwargs)


def _store() -> Any:
    from airflow_provider_mlpipe import endpoints_db

    return endpoints_db


def _from_rest(record: dict[str, Any]) -> dict[str, Any]:
    """An endpoint in v1's REST shape as the store's plain record."""
    return {
        "id": record["Id"],
        "name": record["Name"],
        "description": record.get("Description"),
        "status": record.get("EntityStatus", "Active"),
        "default_version": record.get("DefaultVersion"),
        "versions": [
            {"version": item["Version"], "pipeline_id": item["PipelineId"]}
            for item in record.get("PipelineVersionList") or []
        ],
        "url": record.get("Url"),
    }


def _pipeline_id(pipeline: Any, what: str) -> str:
    """The id of a `PublishedPipeline` (a published pipeline's id as text is taken too)."""
    if isinstance(pipeline, PublishedPipeline):
        if pipeline.dag is not None:
            _IN_PROCESS[pipeline.id] = pipeline
        return pipeline.id
    if isinstance(pipeline, str) and pipeline:
        return pipeline
    raise ValueError(f"{what}: pipeline should be a PublishedPipeline (or its id), got {pipeline!r}")


class PipelineIdVersion:
    """v1's `PipelineIdVersion`: a version of an endpoint and the id of its published pipeline."""

    def __init__(self, version: str, pipeline_id: str) -> None:
        self._version = version
        self._pipeline_id = pipeline_id

    @property
    def version(self) -> str:
        return self._version

    @property
    def pipeline_id(self) -> str:
        return self._pipeline_id

    def __repr__(self) -> str:
        return f"PipelineIdVersion(Version: {self._version}, PipelineId: {self._pipeline_id})"


class PipelineVersion:
    """v1's `PipelineVersion`: a version of an endpoint and its `PublishedPipeline`."""

    def __init__(self, version: str, pipeline: PublishedPipeline) -> None:
        self._version = version
        self._pipeline = pipeline

    @property
    def version(self) -> str:
        return self._version

    @property
    def pipeline(self) -> PublishedPipeline:
        return self._pipeline

    def __repr__(self) -> str:
        return f"PipelineVersion(version: {self._version}, pipeline: {self._pipeline.id})"


class PipelineEndpoint:
    """A pipeline endpoint of a workspace: `id`, `name`, `description`, `status` ("Active" or
    "Disabled"), `default_version`, `endpoint` (the REST URL that submits a run) and
    `pipeline_version_list` (`PipelineIdVersion`s). Get one with `publish`, `get` or `list`."""

    def __init__(
        self,
        workspace: Workspace,
        id: str,  # noqa: A002
        name: str,
        description: str | None,
        status: str,
        default_version: str,
        endpoint: str | None,
        pipeline_version_list: list[PipelineIdVersion],
        _pipeline_endpoint_provider: Any = None,
        _published_pipeline_provider: Any = None,
        _swaggerurl: str | None = None,
    ) -> None:
        self._workspace = workspace
        self._id = id
        self._name = name
        self._description = description
        self._status = status
        self._default_version = default_version
        self._endpoint = endpoint
        self._pipeline_version_list = list(pipeline_version_list)
        self._swaggerurl = _swaggerurl

    # -- what it is --------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str | None:
        return self._description

    @property
    def status(self) -> str:
        return self._status

    @property
    def default_version(self) -> str:
        return self._default_version

    @property
    def endpoint(self) -> str:
        """The REST URL that submits a run (`POST` v1's body, `PipelineVersion` to pick a version)."""
        if self._endpoint is None:
            from airflow_provider_mlpipe.workspace_catalog import local_api_root

            self._endpoint = f"{local_api_root()}/endpoints/{self._id}/submit"
        return self._endpoint

    @property
    def pipeline_version_list(self) -> list[PipelineIdVersion]:
        return list(self._pipeline_version_list)

    @property
    def swaggerurl(self) -> str | None:
        """v1's Swagger URL of the endpoint: the `/mlpipe` API's OpenAPI page, for a remote workspace."""
        if self._swaggerurl is None and not self._workspace.is_local:
            self._swaggerurl = f"{self._workspace.url}/mlpipe/docs"
        return self._swaggerurl

    @classmethod
    def _of(cls, workspace: Workspace, record: dict[str, Any]) -> PipelineEndpoint:
        endpoint = cls(workspace, record["id"], record["name"], None, "Active", "0", None, [])
        endpoint._update(record)
        return endpoint

    def _update(self, record: dict[str, Any]) -> None:
        self._id = record["id"]
        self._name = record["name"]
        self._description = record.get("description")
        self._status = record["status"]
        self._default_version = record["default_version"]
        self._endpoint = record.get("url") or self._endpoint
        self._pipeline_version_list = [
            PipelineIdVersion(item["version"], item["pipeline_id"]) for item in record["versions"]
        ]

    # -- finding and making them ---------------------------------------------------------------------

    @staticmethod
    def publish(
        workspace: Workspace,
        name: str,
        description: str | None,
        pipeline: Any,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> PipelineEndpoint:
        """A new endpoint `name` whose version "0" (the default) is `pipeline`: a `PublishedPipeline`,
        or, in the local workspace, a `Pipeline` (published first as `<name>-<time>-Pipeline`, as
        v1 does). An endpoint of that name already there is an error (409)."""
        store = _store()
        _checked(store.check_name, name, "PipelineEndpoint.publish: name")
        _checked(store.check_description, description)
        pipeline = _published_for(workspace, name, pipeline)
        pipeline_id = _pipeline_id(pipeline, "PipelineEndpoint.publish")
        if workspace.is_local:
            record = _local(store.create, name, description, pipeline_id, getpass.getuser())
        else:
            body = {"Name": name, "Description": description, "PipelineId": pipeline_id}
            record = _from_rest(workspace.request("POST", "/mlpipe/endpoints", json=body).json())
        return PipelineEndpoint._of(workspace, record)

    @staticmethod
    def get(
        workspace: Workspace,
        id: str | None = None,  # noqa: A002
        name: str | None = None,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> PipelineEndpoint:
        """The endpoint with `id`, or called `name` (404 `ApiError` when there is none)."""
        if not id and not name:
            raise ValueError("PipelineEndpoint.get: give the endpoint's id or name")
        if workspace.is_local:
            record = _local(_store().get, id or None, name or None)
        else:
            record = _from_rest(workspace.request("GET", f"/mlpipe/endpoints/{id or name}").json())
        return PipelineEndpoint._of(workspace, record)

    @staticmethod
    def list(
        workspace: Workspace,
        active_only: bool = True,
        max_results: int = 100,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> list[PipelineEndpoint]:
        """The workspace's endpoints by name (those the user may read; Active ones unless
        `active_only=False`), at most `max_results`."""
        if workspace.is_local:
            records = _local(_store().list_all, bool(active_only), max_results)
        else:
            params = {"active_only": bool(active_only), "max_results": max_results}
            found = workspace.request("GET", "/mlpipe/endpoints", params=params).json()["PipelineEndpoints"]
            records = [_from_rest(record) for record in found]
        return [PipelineEndpoint._of(workspace, record) for record in records]

    @staticmethod
    def get_all(
        workspace: Workspace,
        active_only: bool = True,
        _workflow_provider: Any = None,
        _service_endpoint: str | None = None,
    ) -> list[PipelineEndpoint]:
        """v1's older name of `list`."""
        return PipelineEndpoint.list(workspace, active_only)

    # -- changing one ------------------------------------------------------------------------------------

    def _change(self, local: Callable[..., dict[str, Any]], method: str, path: str, **kwargs: Any) -> None:
        """One change: the local store's `local` call, or `method path` on the remote API."""
        if self._workspace.is_local:
            from airflow_provider_mlpipe.schedules_db import endpoint_changed

            record = local()
            endpoint_changed(self._id)  # its schedules submit what it points to now
        else:
            answer = self._workspace.request(method, f"/mlpipe/endpoints/{self._id}{path}", **kwargs)
            record = _from_rest(answer.json())
        self._update(record)

    def _set_status(self, status: str) -> None:
        store = _store()
        action = "enable" if status == store.ACTIVE else "disable"
        user = getpass.getuser()
        self._change(
            lambda: _local(store.change, self._id, action, user, status=status), "POST", f"/{action}"
        )

    def enable(self) -> None:
        """Make the endpoint Active: it can be submitted."""
        self._set_status("Active")

    def disable(self) -> None:
        """Make the endpoint Disabled: a submit is refused (409) until `enable()`."""
        self._set_status("Disabled")

    def _update_fields(self, action: str, name: str | None = None, status: str | None = None) -> None:
        store = _store()
        if name is not None:
            _checked(store.check_name, name, f"PipelineEndpoint.{action}: name")
        user = getpass.getuser()
        body = {key: value for key, value in (("Name", name), ("Status", status)) if value is not None}
        self._change(
            lambda: _local(store.change, self._id, action, user, name=name, status=status),
            "PATCH",
            "",
            json=body,
        )

    def set_name(self, name: str) -> None:
        """Rename the endpoint (its id and versions stay)."""
        self._update_fields("set_name", name=name)

    def archive(self) -> None:
        """Disable the endpoint and give it a random name, freeing its name (v1's archive)."""
        import uuid

        self._update_fields("archive", name=str(uuid.uuid4()), status="Disabled")

    def reactivate(self, name: str) -> PipelineEndpoint:
        """Make an archived endpoint Active again under `name`; returns it."""
        self._update_fields("reactivate", name=name, status="Active")
        return self

    def _add(self, pipeline: Any, make_default: bool) -> None:
        what = "add_default" if make_default else "add"
        pipeline_id = _pipeline_id(pipeline, f"PipelineEndpoint({self._name!r}).{what}")
        store = _store()
        user = getpass.getuser()
        self._change(
            lambda: _local(store.add_version, self._id, pipeline_id, make_default, user),
            "POST",
            "/versions",
            json={"PipelineId": pipeline_id, "SetDefault": make_default},
        )

    def add(self, pipeline: Any) -> None:
        """Add the published pipeline as the next version (the default stays); 409 if it is one already."""
        self._add(pipeline, False)

    def add_default(self, pipeline: Any) -> None:
        """Add the published pipeline as the next version and make that version the default."""
        self._add(pipeline, True)

    def _set_default(self, version: str | None, pipeline_id: str | None) -> None:
        store = _store()
        user = getpass.getuser()
        body = {"Version": version} if version is not None else {"PipelineId": pipeline_id}
        self._change(
            lambda: _local(store.set_default, self._id, version, pipeline_id, user),
            "POST",
            "/default",
            json=body,
        )

    def set_default_version(self, version: str) -> None:
        """Make `version` ("0", "1"...) the default; one the endpoint does not have is an error (404)."""
        if isinstance(version, bool) or not isinstance(version, str | int):
            raise ValueError(
                f"PipelineEndpoint({self._name!r}).set_default_version: version is text such as '1'"
            )
        self._set_default(str(version), None)

    def set_default(self, pipeline: Any) -> None:
        """Make the published pipeline's version the default; one not in the endpoint is an error (404)."""
        self._set_default(None, _pipeline_id(pipeline, f"PipelineEndpoint({self._name!r}).set_default"))

    # -- its versions and pipelines -------------------------------------------------------------------

    def get_default_version(self) -> str:
        return self._default_version

    def _published(self, pipeline_id: str) -> PublishedPipeline:
        if self._workspace.is_local and pipeline_id in _IN_PROCESS:
            return _IN_PROCESS[pipeline_id]
        return PublishedPipeline.get(self._workspace, pipeline_id)

    def _version(self, version: Any) -> tuple[str, str]:
        """(version, pipeline id) of `version`, or of the default version when it is None."""
        record = {
            "name": self._name,
            "default_version": self._default_version,
            "versions": [
                {"version": v.version, "pipeline_id": v.pipeline_id} for v in self._pipeline_version_list
            ],
        }
        return _checked(_store().pipeline_of, record, version)

    def get_pipeline(self, version: str | None = None) -> PublishedPipeline:
        """The published pipeline of `version` (default: the default version); an unknown one is an error."""
        _, pipeline_id = self._version(version)
        return self._published(pipeline_id)

    def list_versions(
        self, _workflow_provider: Any = None, _service_endpoint: str | None = None
    ) -> list[PipelineVersion]:
        """Every version with its `PublishedPipeline`, in order."""
        return [
            PipelineVersion(v.version, self._published(v.pipeline_id)) for v in self._pipeline_version_list
        ]

    def get_all_versions(
        self, _workflow_provider: Any = None, _service_endpoint: str | None = None
    ) -> list[PipelineVersion]:
        """v1's older name of `list_versions`."""
        return self.list_versions()

    def list_pipelines(
        self, active_only: bool = True, _workflow_provider: Any = None, _service_endpoint: str | None = None
    ) -> list[PublishedPipeline]:
        """The published pipelines of the endpoint's versions (Active ones unless `active_only=False`)."""
        if self._workspace.is_local:
            found = [self._published(v.pipeline_id) for v in self._pipeline_version_list]
            return [p for p in found if p.status == "Active"] if active_only else found
        params = {"active_only": bool(active_only)}
        answer = self._workspace.request(
            "GET", f"/mlpipe/endpoints/{self._id}/pipelines", params=params
        ).json()
        return [PublishedPipeline._of_record(self._workspace, record) for record in answer["Pipelines"]]

    def get_all_pipelines(
        self, active_only: bool = True, _workflow_provider: Any = None, _service_endpoint: str | None = None
    ) -> list[PublishedPipeline]:
        """v1's older name of `list_pipelines`."""
        return self.list_pipelines(active_only)

    # -- runs ---------------------------------------------------------------------------------------------

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
        pipeline_version: str | None = None,
    ) -> PipelineRun:
        """Start a run of `pipeline_version` (default: the default version) in `experiment_name`;
        returns it at once. A disabled endpoint is refused (409)."""
        if not experiment_name or not isinstance(experiment_name, str):
            raise ValueError(f"PipelineEndpoint({self._name!r}).submit: experiment_name is required")
        return self._submit_in(
            Experiment(self._workspace, experiment_name),
            pipeline_parameters=pipeline_parameters,
            parent_run_id=parent_run_id,
            pipeline_version=pipeline_version,
        )

    def _submit_in(
        self,
        experiment: Experiment,
        tags: dict[str, str] | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        parent_run_id: str | None = None,
        pipeline_version: str | None = None,
        pipeline_params: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        continue_on_step_failure: bool | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """`Experiment.submit(endpoint, ...)` and `submit` end here (`pipeline_params` is v1's old name)."""
        if kwargs:
            raise TypeError(
                f"submit of pipeline endpoint {self._name!r}: unexpected arguments {sorted(kwargs)}"
            )
        if pipeline_params is not None:
            log.warning("'pipeline_params' is v1's deprecated name of 'pipeline_parameters'")
            pipeline_parameters = pipeline_parameters if pipeline_parameters is not None else pipeline_params
        if pipeline_version is not None:
            pipeline_version = str(_checked(_store().version_number, pipeline_version))
        remote = experiment._remote
        if remote is None:
            return self._submit_locally(
                experiment, pipeline_version, tags=tags, pipeline_parameters=pipeline_parameters,
                parent_run_id=parent_run_id, regenerate_outputs=regenerate_outputs,
                continue_on_step_failure=continue_on_step_failure, description=description,
            )  # fmt: skip
        from airflow_provider_mlpipe.submission import submit_body

        body = submit_body(
            experiment.name,
            pipeline_parameters,
            regenerate_outputs,
            continue_on_step_failure,
            parent_run_id,
            description,
            tags,
        )
        if pipeline_version is not None:
            body["PipelineVersion"] = pipeline_version
        answer = remote.request("POST", f"/mlpipe/endpoints/{self._id}/submit", json=body).json()
        return PipelineRun(experiment, answer["Id"], pipeline_id=answer.get("PipelineId"))

    def _submit_locally(self, experiment: Experiment, version: str | None, **submit: Any) -> PipelineRun:
        """Run the version's pipeline in the embedded local Airflow (one published in this process)."""
        record = _local(_store().get, self._id)
        self._update(record)
        if record["status"] != "Active":
            message = f"pipeline endpoint {self._name!r} is disabled"
            raise ApiError(message, 409, message)
        _, pipeline_id = _checked(_store().pipeline_of, record, version)
        return self._published(pipeline_id)._submit_in(experiment, **submit)

    def __repr__(self) -> str:
        versions = ", ".join(f"{v.version}: {v.pipeline_id}" for v in self._pipeline_version_list)
        return (
            f"PipelineEndpoint(name={self._name!r}, id={self._id!r}, status={self._status!r}, "
            f"default_version={self._default_version!r}, versions={{{versions}}})"
        )


def _published_for(workspace: Workspace, name: str, pipeline: Any) -> Any:
    """`pipeline`, or for a notebook's `Pipeline` in the local workspace, its published form."""
    from airflow_provider_mlpipe.authoring.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline):
        return pipeline
    if not workspace.is_local:
        raise ValueError(
            f"PipelineEndpoint.publish({name!r}): a Pipeline built here cannot be published to a deployment; "
            "publish it in a DAG file (Pipeline.publish(...)) and pass PublishedPipeline.get(workspace, id)"
        )
    pipeline_name = f"{name}-{datetime.now().strftime('%m-%d-%Y-%H-%M')}-Pipeline"
    return pipeline.publish(name=pipeline_name, description=f"Published for pipeline endpoint {name}")

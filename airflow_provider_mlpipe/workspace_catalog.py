"""What `Workspace`'s listing and default-datastore calls do: read this machine's metadata DB for
the embedded local workspace, or ask a remote deployment's `/mlpipe` API (`api/catalog.py` answers
both from the same functions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_mlpipe.compute import ComputeTarget
    from airflow_provider_mlpipe.workspace import Workspace


def _local_session() -> Any:
    from airflow.utils.session import create_session

    from airflow_provider_mlpipe.local_submit import register_published_here

    register_published_here()  # migrates the DB first when it is new
    from airflow_provider_mlpipe.local_db import ensure_airflow_db

    ensure_airflow_db()
    return create_session()


def _datastores(workspace: Workspace) -> dict[str, Any]:
    if workspace.is_local:
        from airflow_provider_mlpipe.api.catalog import datastore_catalog

        with _local_session() as session:
            return datastore_catalog(session)
    return workspace.request("GET", "/mlpipe/datastores").json()


def default_datastore_name(workspace: Workspace) -> str:
    """The name of the workspace's default datastore."""
    return _datastores(workspace)["Default"]


def datastore_names(workspace: Workspace) -> list[str]:
    """The names of the workspace's datastores (the default among them)."""
    return [entry["Name"] for entry in _datastores(workspace)["Datastores"]]


def set_default_datastore(workspace: Workspace, name: str) -> None:
    """Make `name` the default datastore of `workspace` (checked to be a datastore first)."""
    from airflow_provider_mlpipe.api.catalog import check_datastore_name

    check_datastore_name(name)
    known = datastore_names(workspace)
    if name not in known:
        raise ValueError(
            f"Workspace {workspace.name!r}: no datastore {name!r} (known: {', '.join(known)}); register it "
            "first (Datastore.register_azure_blob_container, or an Airflow connection of type mlpipe_local "
            "or mlpipe_blob)"
        )
    if workspace.is_local:
        from airflow_provider_mlpipe.api.catalog import set_default_datastore as store

        with _local_session() as session:
            store(session, name)
    else:
        workspace.request("PUT", "/mlpipe/datastores/default", json={"Name": name})


def experiment_names(workspace: Workspace) -> list[str]:
    """The experiments with runs in `workspace`."""
    if workspace.is_local:
        from airflow_provider_mlpipe.api.catalog import experiment_names as names

        with _local_session() as session:
            return names(session)
    return workspace.request("GET", "/mlpipe/experiments").json()["Experiments"]


def compute_targets(workspace: Workspace) -> dict[str, ComputeTarget]:
    """Name -> `ComputeTarget` of what `compute_target=` may name in `workspace`."""
    from airflow_provider_mlpipe.compute import ComputeTarget

    if workspace.is_local:
        from airflow_provider_mlpipe.api.catalog import compute_catalog

        with _local_session() as session:
            entries = compute_catalog(session)
    else:
        entries = workspace.request("GET", "/mlpipe/compute").json()["ComputeTargets"]
    return {e["Name"]: ComputeTarget._known(workspace, e["Name"], e["Type"]) for e in entries}


def local_api_root() -> str:
    """The `/mlpipe` API of the embedded local Airflow (`[api] base_url`, else localhost:8080)."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or "http://localhost:8080"
    return base.rstrip("/") + "/mlpipe"


def local_published_pipelines() -> list[dict[str, Any]]:
    """The published pipelines of the embedded local Airflow, in v1's REST shape."""
    from airflow_provider_mlpipe.api.dags import published_record, tagged_dags
    from airflow_provider_mlpipe.contract import PUBLISHED_TAG

    root = local_api_root()
    with _local_session() as session:
        return [published_record(model, root) for model in tagged_dags(session, PUBLISHED_TAG)]


def set_local_pipeline_paused(name: str, paused: bool) -> dict[str, Any]:
    """Disable or enable a published pipeline of the embedded local Airflow; returns its record."""
    from airflow_provider_mlpipe.api.dags import published_record, set_published_paused, tagged_dags
    from airflow_provider_mlpipe.contract import PUBLISHED_TAG
    from airflow_provider_mlpipe.exceptions import ApiError

    with _local_session() as session:
        found = tagged_dags(session, PUBLISHED_TAG, name)
        if not found:
            raise ApiError(
                f"no published pipeline {name!r} in the embedded local Airflow (its DAG is registered when "
                "the DAG file is parsed, or when a run of it is submitted)",
                404,
                "not found",
            )
        set_published_paused(session, found[0], paused)
        return published_record(found[0], local_api_root())

"""What the `/mlpipe` endpoints read of DAGs and who may: tagged DAGs and the auth manager's verdict."""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe.contract import VERSION_TAG_PREFIX

try:  # the dependency is only importable inside an Airflow installation with the API server
    from airflow.api_fastapi.core_api.security import GetUserDep
except ImportError:  # pragma: no cover - documentation builds
    GetUserDep = Any  # type: ignore[misc,assignment]

__all__ = [
    "GetUserDep",
    "dag_allowed",
    "published_record",
    "published_version",
    "set_published_paused",
    "tagged_dags",
]


def dag_allowed(user: Any, dag_id: str, method: str = "GET", entity: str | None = None) -> bool:
    """Whether the auth manager lets `user` use `method` on `entity` (a DagAccessEntity name) of `dag_id`."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method=method,  # type: ignore[arg-type]
        access_entity=DagAccessEntity[entity] if entity else None,
        details=DagDetails(id=dag_id),
        user=user,
    )


def tagged_dags(session: Any, tag: str, dag_id: str | None = None) -> list[Any]:
    """The DAG models (not stale, with their tags) carrying `tag`, by dag_id; or the one called `dag_id`."""
    from airflow.models.dag import DagModel, DagTag
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    query = (
        select(DagModel)
        .options(selectinload(DagModel.tags))
        .join(DagTag, DagTag.dag_id == DagModel.dag_id)
        .where(DagTag.name == tag, ~DagModel.is_stale)
        .order_by(DagModel.dag_id)
    )
    if dag_id is not None:
        query = query.where(DagModel.dag_id == dag_id)
    return list(session.scalars(query).unique())


def published_version(model: Any) -> str | None:
    """The version a published pipeline's DAG carries in its tags (None when it has none)."""
    for tag in model.tags or []:
        if tag.name.startswith(VERSION_TAG_PREFIX):
            return tag.name[len(VERSION_TAG_PREFIX) :]
    return None


def published_record(model: Any, api_root: str) -> dict[str, Any]:
    """A published pipeline in v1's REST shape; `api_root` is the `/mlpipe` app's URL."""
    return {
        "Id": model.dag_id,
        "Name": model.dag_id,
        "Description": model.description,
        "Version": published_version(model),
        "Status": "Disabled" if model.is_paused else "Active",
        "Endpoint": f"{api_root}/pipelines/{model.dag_id}/submit",
    }


def set_published_paused(session: Any, model: Any, paused: bool) -> None:
    """Disable (pause) or enable a published pipeline's DAG, and its datastore schedule's dispatcher
    with it (v1: a disabled pipeline's schedules submit nothing)."""
    from airflow_provider_mlpipe.authoring.datastore_schedule import dispatcher_dag_id

    model.is_paused = paused
    dispatcher = session.get(type(model), dispatcher_dag_id(model.dag_id))
    if dispatcher is not None:
        dispatcher.is_paused = paused
    session.flush()

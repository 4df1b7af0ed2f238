"""What the `/mlpipe` endpoints read of DAGs and who may: tagged DAGs and the auth manager's verdict."""

from __future__ import annotations

from typing import Any

try:  # the dependency is only importable inside an Airflow installation with the API server
    from airflow.api_fastapi.core_api.security import GetUserDep
except ImportError:  # pragma: no cover - documentation builds
    GetUserDep = Any  # type: ignore[misc,assignment]

__all__ = ["GetUserDep", "dag_allowed", "tagged_dags"]


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

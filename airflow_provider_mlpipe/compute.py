"""v1's `ComputeTarget`: what a step's `compute_target=` names here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_mlpipe.workspace import Workspace


class ComputeTarget:
    """v1's `ComputeTarget(workspace, name)`: what a step's `compute_target=` names here.

    A `PythonScriptStep`'s compute target is an Airflow queue (the workers that serve it); a
    `DatabricksStep`'s the Airflow connection of a Databricks workspace, an `AdlaStep`'s that of a
    Data Lake Analytics account. `type` says which: `AirflowQueue`, `Databricks` or `AdlaCompute`.
    Any name is a valid queue; `workspace.compute_targets` lists the connections and the default queue.
    """

    def __init__(self, workspace: Workspace, name: str) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("ComputeTarget: name is required")
        self.workspace = workspace
        self.name = name
        self._type: str | None = None

    @property
    def type(self) -> str:
        """Looked up when asked (never while a DAG file builds steps with it): a known connection's
        type, else `AirflowQueue`."""
        if self._type is None:
            known = self.workspace.compute_targets.get(self.name) if self.workspace is not None else None
            self._type = known.type if known is not None else "AirflowQueue"
        return self._type

    @classmethod
    def _known(cls, workspace: Workspace, name: str, type: str) -> ComputeTarget:  # noqa: A002
        target = cls(workspace, name)
        target._type = type
        return target

    def __repr__(self) -> str:
        return f"ComputeTarget({self.name!r}, type={self.type!r})"

"""What a step's run hands back to `PipelineStepOperator` to publish and record.

Imported when a task runs, not when a DAG file is parsed (a dataclass costs ~0.5 ms to define).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_mlpipe.runtime.reuse_key import ReuseKey


@dataclass
class StepOutcome:
    """What a successful run leaves for the base to publish and record.

    `local_outputs`: outputs the run wrote to local folders (published to their datastores);
    every other output was written straight to its datastore, at its run's output path or at
    `written_at[name]` = (datastore client, path). `metrics`: what the step's script logged.
    """

    run_record: dict[str, Any]
    metrics: dict[str, Any] | None = None
    local_outputs: dict[str, Path] = field(default_factory=dict)
    written_at: dict[str, tuple[Any, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingRecord:
    """A MISS's key, reason and stale entry: what `record` needs once the run has succeeded."""

    key: ReuseKey
    reason: str
    stale: str | None

    def to_xcom(self) -> dict[str, Any]:
        return {
            "key": [[c.name, c.digest, c.detail] for c in self.key.components],
            "reason": self.reason,
            "stale": self.stale,
        }

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> PendingRecord:
        from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, ReuseKey

        key = ReuseKey(tuple(KeyComponent(*c) for c in value["key"]))
        return cls(key, value["reason"], value.get("stale"))

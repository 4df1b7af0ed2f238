"""`ReuseCacheHook`: the reuse key of a step and the shared reuse index on a datastore.

An entry is written once, after a step's outputs are published, with a create-only write,
so a failed or killed attempt leaves nothing and two racing runs keep exactly one entry.
The index lives on a datastore so that every worker on every machine shares it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

INDEX_ROOT = "mlpipe/_reuse"
ENTRY_FORMAT = 1


@dataclass(frozen=True)
class KeyComponent:
    """One part of a reuse key: a name, its own digest, and a short human description."""

    name: str
    digest: str
    detail: str = ""


@dataclass(frozen=True)
class ReuseKey:
    """A step's reuse key: the digest of its named components, in order."""

    components: tuple[KeyComponent, ...]
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        from airflow_provider_mlpipe.runtime.content_hash import bytes_digest

        text = "".join(f"{c.name}\0{c.digest}\n" for c in self.components)
        object.__setattr__(self, "digest", bytes_digest(text.encode()))

    def describe(self) -> list[str]:
        """One log line per component, so two runs' logs show what changed."""
        return [f"  {c.name}: {c.digest[:16]}  {c.detail}".rstrip() for c in self.components]

    def as_dict(self) -> dict[str, Any]:
        return {c.name: {"digest": c.digest, "detail": c.detail} for c in self.components}


@dataclass(frozen=True)
class ReuseDecision:
    """HIT (with the entry to reuse) or MISS with its reason."""

    hit: bool
    reason: str
    entry: dict[str, Any] | None = None


def reuse_datastore_name(output_datastore: str | None) -> str | None:
    """`[mlpipe] reuse_datastore` if set, else the datastore of the step's outputs (None = default)."""
    from airflow.configuration import conf

    return conf.get("mlpipe", "reuse_datastore", fallback="") or output_datastore


class ReuseCacheHook(BaseHook):
    """Reads and writes reuse entries (`mlpipe/_reuse/<k[:2]>/<key>.json`) on one datastore."""

    hook_name = "mlpipe reuse cache"

    def __init__(self, datastore: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datastore = datastore
        self._client: DatastoreClient | None = None

    @property
    def client(self) -> DatastoreClient:
        if self._client is None:
            self._client = resolve_datastore(self.datastore)
        return self._client

    @staticmethod
    def entry_path(key: str) -> str:
        return f"{INDEX_ROOT}/{key[:2]}/{key}.json"

    def get_entry(self, key: str) -> dict[str, Any] | None:
        data = self.client.read_bytes(self.entry_path(key))
        return None if data is None else json.loads(data)

    def decide(
        self,
        key: ReuseKey,
        allow_reuse: bool,
        regenerate_outputs: bool,
        output_exists: Callable[[dict[str, Any]], bool],
    ) -> ReuseDecision:
        """HIT only when reuse is allowed, an entry exists and every recorded output is still there."""
        if not allow_reuse:
            return ReuseDecision(False, "allow_reuse=False")
        if regenerate_outputs:
            return ReuseDecision(False, "regenerate_outputs")
        entry = self.get_entry(key.digest)
        if entry is None:
            return ReuseDecision(False, "no entry")
        missing = [name for name, record in entry["outputs"].items() if not output_exists(record)]
        if missing:
            return ReuseDecision(False, f"recorded outputs missing: {', '.join(sorted(missing))}")
        return ReuseDecision(True, "entry found, outputs present", entry)

    def record(
        self, key: ReuseKey, outputs: dict[str, Any], source: dict[str, str], run_record: dict[str, Any]
    ) -> bool:
        """Create the entry for `key` unless one exists (create-only); True when this call wrote it."""
        entry = {
            "format": ENTRY_FORMAT,
            "key": key.digest,
            "components": key.as_dict(),
            "outputs": outputs,
            "source": source,
            "run": run_record,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        data = json.dumps(entry, indent=1, sort_keys=True).encode()
        return self.client.create_only(self.entry_path(key.digest), data)

    def list_entries(self) -> Iterator[dict[str, Any]]:
        """Every entry of the index (for the maintenance CLI)."""
        for relative in self.client.list_files(INDEX_ROOT):
            if relative.endswith(".json"):
                data = self.client.read_bytes(f"{INDEX_ROOT}/{relative}")
                if data is not None:
                    yield json.loads(data)

    def delete_entry(self, key: str) -> None:
        self.client.delete(self.entry_path(key))

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
        """The entry for `key`, None when there is none; raises `ValueError` when it is unreadable."""
        data = self.client.read_bytes(self.entry_path(key))
        if data is None:
            return None
        try:
            entry = json.loads(data)
        except ValueError as error:
            raise ValueError(f"reuse entry {self.entry_path(key)} is not valid JSON: {error}") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict) or "source" not in entry:
            raise ValueError(f"reuse entry {self.entry_path(key)} lacks 'outputs' or 'source'")
        return entry

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
        try:
            entry = self.get_entry(key.digest)
        except ValueError as error:
            self.log.warning("%s; it will be replaced", error)
            return ReuseDecision(False, "entry unreadable")
        if entry is None:
            return ReuseDecision(False, "no entry")
        missing = [name for name, record in entry["outputs"].items() if not output_exists(record)]
        if missing:
            return ReuseDecision(False, f"recorded outputs missing: {', '.join(sorted(missing))}")
        return ReuseDecision(True, "entry found, outputs present", entry)

    def record(
        self,
        key: ReuseKey,
        outputs: dict[str, Any],
        source: dict[str, str],
        run_record: dict[str, Any],
        replace_unreadable: bool = False,
        *,
        metrics: dict[str, Any] | None = None,
    ) -> bool:
        """Create the entry for `key` unless one exists (create-only); True when this call wrote it.

        With `replace_unreadable`, an existing entry that cannot be read is deleted first.
        `metrics`, the metrics the run logged, are kept in the entry for a HIT to hand on.
        """
        entry = {
            "format": ENTRY_FORMAT,
            "key": key.digest,
            "components": key.as_dict(),
            "outputs": outputs,
            "source": source,
            "run": run_record,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        if metrics is not None:
            entry["metrics"] = metrics
        data = json.dumps(entry, indent=1, sort_keys=True).encode()
        path = self.entry_path(key.digest)
        if self.client.create_only(path, data):
            return True
        if replace_unreadable:
            try:
                self.get_entry(key.digest)
            except ValueError:
                self.client.delete(path)
                return self.client.create_only(path, data)
        return False

    def list_entries(self) -> Iterator[dict[str, Any]]:
        """Every readable entry of the index (for the maintenance CLI); unreadable ones are logged."""
        for relative in self.client.list_files(INDEX_ROOT):
            key = relative.rsplit("/", 1)[-1].removesuffix(".json")
            if not relative.endswith(".json"):
                continue
            try:
                entry = self.get_entry(key)
            except ValueError as error:
                self.log.warning("Skipping %s", error)
                continue
            if entry is not None:
                yield entry

    def delete_entry(self, key: str) -> None:
        self.client.delete(self.entry_path(key))

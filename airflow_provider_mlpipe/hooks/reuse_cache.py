"""`ReuseCacheHook`: the shared reuse index on a datastore (keys are built in runtime/reuse_key.py).

An entry is written once, after a step's outputs are published, with a create-only write,
so a failed or killed attempt leaves nothing and two racing runs keep exactly one entry.
A stale entry (its outputs are gone, or it cannot be read or used) is a MISS; the run that
follows replaces exactly the version it found stale (compare-and-swap), so of racing writers
one wins and a valid entry recorded meanwhile is kept.
The index lives on a datastore so that every worker on every machine shares it.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, DatastoreError, clean_datastore_path
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore
from airflow_provider_mlpipe.runtime.reuse_key import ReuseKey

INDEX_ROOT = "mlpipe/_reuse"
ENTRY_FORMAT = 1
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True)
class ReuseDecision:
    """HIT (with the entry to reuse) or MISS with its reason.

    `stale`: on a MISS for an entry that exists but cannot be reused, the version of it that the
    run's own entry replaces (None: create a new entry).
    """

    hit: bool
    reason: str
    entry: dict[str, Any] | None = None
    stale: str | None = None


def record_problem(record: Any) -> str | None:
    """Why a recorded output cannot be used, read from the record alone; None when it looks sound.

    Paths are recorded relative to their datastore and normalised, so a path that is absolute or
    leaves the datastore did not come from a run: reading or deleting it could touch other data.
    """
    if not isinstance(record, dict):
        return "not an output record"
    datastore, path = record.get("datastore"), record.get("path_on_datastore")
    if not isinstance(datastore, str) or not datastore:
        return "no datastore name"
    if not isinstance(path, str):
        return "no path_on_datastore"
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        return f"path {path!r} is absolute"
    try:
        clean_datastore_path(path)
    except DatastoreError:
        return f"path {path!r} leaves the datastore"
    return None


def reuse_datastore_name(output_datastore: str | None) -> str | None:
    """`[mlpipe] reuse_datastore` if set, else the datastore of the step's outputs (None = default)."""
    from airflow_provider_mlpipe import settings

    return settings.reuse_datastore() or output_datastore


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
        return None if data is None else self._parse(key, data)

    def _parse(self, key: str, data: bytes) -> dict[str, Any]:
        """An entry from its bytes; `ValueError` naming the file and the problem when it is unreadable."""
        path = self.entry_path(key)
        try:
            entry = json.loads(data)
        except ValueError as error:
            raise ValueError(f"reuse entry {path} is not valid JSON: {error}") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict):
            raise ValueError(f"reuse entry {path} lacks 'outputs'")
        source = entry.get("source")
        if not isinstance(source, dict) or not all(
            isinstance(source.get(name), str) for name in ("dag_id", "run_id", "task_id")
        ):
            raise ValueError(f"reuse entry {path} lacks a 'source' with dag_id, run_id and task_id")
        return entry

    def decide(
        self,
        key: ReuseKey,
        allow_reuse: bool,
        regenerate_outputs: bool,
        output_exists: Callable[[dict[str, Any]], bool],
    ) -> ReuseDecision:
        """HIT only when reuse is allowed, an entry exists and every recorded output is still there.

        `output_exists(record)` raises `ValueError` for a record it cannot check (e.g. its datastore
        has no connection). An entry that cannot be read, records unusable outputs or outputs that
        are gone is a MISS naming the problem, with the entry's version to replace.
        """
        if not allow_reuse:
            return ReuseDecision(False, "allow_reuse=False")
        if regenerate_outputs:
            return ReuseDecision(False, "regenerate_outputs")
        found = self.client.read_versioned(self.entry_path(key.digest))
        if found is None:
            return ReuseDecision(False, "no entry")
        data, version = found
        try:
            entry = self._parse(key.digest, data)
        except ValueError as error:
            self.log.warning("%s; it will be replaced", error)
            return ReuseDecision(False, f"entry unreadable: {error}", stale=version)
        invalid, missing = [], []
        for name, record in sorted(entry["outputs"].items()):
            problem = record_problem(record)
            if problem is None:
                try:
                    if not output_exists(record):
                        missing.append(name)
                except ValueError as error:
                    problem = str(error)
            if problem is not None:
                invalid.append(f"{name}: {problem}")
        if invalid:
            return ReuseDecision(False, f"recorded outputs invalid: {'; '.join(invalid)}", stale=version)
        if missing:
            return ReuseDecision(False, f"recorded outputs missing: {', '.join(missing)}", stale=version)
        return ReuseDecision(True, "entry found, outputs present", entry)

    def record(
        self,
        key: ReuseKey,
        outputs: dict[str, Any],
        source: dict[str, str],
        run_record: dict[str, Any],
        *,
        replace: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> bool:
        """Write the entry for `key`; True when this call wrote it.

        Create-only, or with `replace` (a `ReuseDecision.stale` version) only in place of that very
        version: when another writer got there first, its entry is kept and this returns False.
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
        if replace is None:
            return self.client.create_only(path, data)
        return self.client.replace_if_unchanged(path, data, replace)

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

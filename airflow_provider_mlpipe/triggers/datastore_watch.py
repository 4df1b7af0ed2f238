"""`DatastoreChangeTrigger`: v1's datastore schedule, as an Airflow event trigger.

v1's ``Schedule.create(..., datastore=, path_on_datastore=, polling_interval=)`` polls a path and
starts one pipeline run per new or changed blob. Here an `AssetWatcher` runs this trigger on the
triggerer; every event becomes an asset event whose ``extra`` is
``{"from_trigger": True, "payload": <the event payload>}`` and queues the DAGs scheduled on the asset.

What is announced
-----------------
* Each poll lists ``content_identity(path_on_datastore)`` (Blob: size + etag from one listing;
  local folder: size + content digest) and fires one `TriggerEvent` per file whose identity is not
  the one last announced: ``{"datastore", "path_on_datastore": <the file's full path>,
  "identity", "change": "new" | "changed"}``. Unchanged files fire nothing; a deleted file fires
  nothing and is forgotten, so a file created again later fires again. Files a local folder
  datastore is still writing (``.<name>.<uuid>.part``) and the watch state are never announced.
* The very first start (no state yet) records the files already there as the baseline and fires
  nothing, as in v1 (existing blobs do not start runs; only files added or changed after the
  schedule exists do).

Where the state lives
---------------------
On the watched datastore itself, so a triggerer restart, a move to another triggerer or a second
instance with the same kwargs continues where the last one stopped: create-only, versioned files
``mlpipe/_watch/<digest of datastore + path>/v<version>.json`` holding ``{relative path: identity}``.
A change is claimed by creating the next version (atomic create-only: a Blob PUT with
If-None-Match, a hard link locally) *before* its event is yielded; an instance that loses the race
reads the winner's version and does not announce what it holds. So no file is announced twice;
the price is that a triggerer killed between the claim and handing the event to the triggerer
loses that one event (the triggerer's own in-memory event queue has the same window). Old versions
are pruned, the newest two are kept.

Listing or storage errors (also a connection that does not exist yet) are logged and retried at
the next poll; the trigger never ends on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_mlpipe.contract import CONNECTION_ID
from airflow_provider_mlpipe.hooks.datastore import DatastoreError, clean_datastore_path, join_datastore_path

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.datastore import DatastoreClient

#: Folder (on the watched datastore) holding every watch's announced-files state.
STATE_ROOT = "mlpipe/_watch"
#: What the provider writes on a datastore (step outputs, the reuse index, this state): a watch of
#: the whole datastore ignores it.
PROVIDER_ROOT = "mlpipe"
_VERSION_FILE = re.compile(r"^v(\d{10})\.json$")
#: A file the local folder datastore is still writing (`.<name>.<uuid hex>.part`, renamed into
#: place when complete): never announced, the finished file is.
_IN_FLIGHT = re.compile(r"^\..+\.[0-9a-f]{32}\.part$")
#: How many times one claim is retried against competing writers before waiting for the next poll.
_CLAIM_ATTEMPTS = 5
#: Old versions are pruned, the newest this many are kept. Pruning makes a version number free
#: again, so a writer holding a state older than every kept version could "create" a pruned one;
#: `try_write` detects that (its predecessor is gone too) as long as fewer than this many versions
#: were written between its create and its check.
_KEEP_VERSIONS = 20


def watch_state_folder(datastore: str, path_on_datastore: str) -> str:
    """Where the state of the watch of `path_on_datastore` on `datastore` is kept (on that datastore)."""
    digest = hashlib.sha256(json.dumps([datastore, path_on_datastore]).encode()).hexdigest()[:32]
    return f"{STATE_ROOT}/{digest}"


@dataclass
class WatchState:
    """The files announced so far ({relative path: identity}) and the version that holds them."""

    version: int
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Change:
    relative: str
    identity: str
    change: str  # "new" or "changed"


class DatastoreWatch:
    """The synchronous part of the trigger: list the path, read and claim the persisted state."""

    def __init__(self, client: DatastoreClient, datastore: str, path_on_datastore: str) -> None:
        self.client = client
        self.datastore = datastore
        self.path = path_on_datastore
        self.folder = watch_state_folder(datastore, path_on_datastore)

    # State on the datastore.

    def _version_path(self, version: int) -> str:
        return f"{self.folder}/v{version:010d}.json"

    def _versions(self) -> list[int]:
        found = []
        for name in self.client.list_files(self.folder):
            match = _VERSION_FILE.fullmatch(name)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def read_state(self) -> WatchState | None:
        """The newest persisted state, or None when this watch has never run."""
        for _attempt in range(_CLAIM_ATTEMPTS):
            versions = self._versions()
            if not versions:
                return None
            raw = self.client.read_bytes(self._version_path(versions[-1]))
            if raw is None:  # pruned between the listing and the read: list again
                continue
            document = json.loads(raw)
            return WatchState(versions[-1], dict(document["files"]))
        raise DatastoreError(f"watch state in {self.folder!r} kept changing while being read")

    def try_write(self, version: int, files: dict[str, str]) -> bool:
        """Create version `version` holding `files`; False when another writer created it first."""
        document = {
            "datastore": self.datastore,
            "path_on_datastore": self.path,
            "version": version,
            "files": dict(sorted(files.items())),
        }
        if not self.client.create_only(self._version_path(version), json.dumps(document, indent=1).encode()):
            return False
        versions = self._versions()
        if version > 1 and version - 1 not in versions:
            # Our state was older than every kept version: the number was free only because it had
            # been pruned. The newest version is elsewhere; ours is junk that the next pruning removes.
            return False
        for old in versions[:-_KEEP_VERSIONS]:
            if old < version:
                self._prune(old)
        return True

    def _prune(self, version: int) -> None:
        try:
            self.client.delete(self._version_path(version))
        except Exception:  # pruning is housekeeping: a failure only leaves an old file behind
            pass

    # Listing.

    def current(self) -> dict[str, str]:
        """{relative path: identity} of every file under the watched path (the state folder excluded;
        watching the whole datastore, everything under `PROVIDER_ROOT`)."""
        listing = {}
        for relative, identity in self.client.content_identity(self.path):
            full = self.full_path(relative)
            if full == STATE_ROOT or full.startswith(STATE_ROOT + "/"):
                continue
            if not self.path and full.startswith(PROVIDER_ROOT + "/"):
                continue  # the whole datastore: not what pipelines write there (else a run starts runs)
            if _IN_FLIGHT.fullmatch(posixpath.basename(full)):
                continue
            listing[relative] = identity
        return listing

    def full_path(self, relative: str) -> str:
        return join_datastore_path(self.path, relative) if relative else self.path

    # One poll.

    def baseline(self) -> WatchState:
        """The persisted state; on the very first start, record what is there now and return it."""
        state = self.read_state()
        if state is not None:
            return state
        files = self.current()
        if self.try_write(1, files):
            return WatchState(1, files)
        state = self.read_state()  # another instance recorded the baseline first
        if state is None:
            raise DatastoreError(f"watch state in {self.folder!r} vanished right after being created")
        return state

    @staticmethod
    def changes(state: WatchState, listing: dict[str, str]) -> list[Change]:
        return [
            Change(relative, identity, "new" if relative not in state.files else "changed")
            for relative, identity in sorted(listing.items())
            if state.files.get(relative) != identity
        ]

    @staticmethod
    def gone(state: WatchState, listing: dict[str, str]) -> dict[str, str]:
        """Announced files (with the identity they had) that `listing`, taken after `state`, lacks."""
        return {k: v for k, v in state.files.items() if k not in listing}

    @staticmethod
    def _without(files: dict[str, str], gone: dict[str, str]) -> dict[str, str]:
        # Only entries still holding the identity seen deleted: one announced again since stays.
        return {k: v for k, v in files.items() if gone.get(k) != v}

    def claim(self, state: WatchState, change: Change, gone: dict[str, str]) -> tuple[WatchState, bool]:
        """Persist `change` as announced (and forget the files in `gone`).

        Returns the state now persisted and whether this caller won the claim (and so must
        announce it). When the newest state (ours is re-read after a lost race) already holds
        this identity, another instance announced it and it is not announced again.
        """
        for _attempt in range(_CLAIM_ATTEMPTS):
            if state.files.get(change.relative) == change.identity:
                return state, False
            files = self._without(state.files, gone)
            files[change.relative] = change.identity
            if self.try_write(state.version + 1, files):
                return WatchState(state.version + 1, files), True
            fresh = self.read_state()
            if fresh is None:
                raise DatastoreError(f"watch state in {self.folder!r} disappeared")
            state = fresh
        raise DatastoreError(
            f"could not claim {change.relative!r}: watch state in {self.folder!r} is contended"
        )

    def forget(self, state: WatchState, gone: dict[str, str]) -> WatchState:
        """Drop deleted files from the state, so a file created again later fires again."""
        for _attempt in range(_CLAIM_ATTEMPTS):
            files = self._without(state.files, gone)
            if files == state.files:
                return state
            if self.try_write(state.version + 1, files):
                return WatchState(state.version + 1, files)
            state = self.read_state() or state
        return state


class DatastoreChangeTrigger(BaseEventTrigger):
    """Fire one event per file that is new or changed under `path_on_datastore` on `datastore`.

    :param datastore: Airflow connection id of the datastore (`mlpipe_local` or `wasb`); None is
        the default datastore, resolved on the triggerer.
    :param path_on_datastore: folder (or single file) to watch; "" is the whole datastore.
    :param poll_interval: seconds between two listings.

    See the module docstring for the first start, the persisted state and what is announced.
    """

    def __init__(
        self, datastore: str | None, path_on_datastore: str = "", poll_interval: float = 300.0
    ) -> None:
        super().__init__()
        if datastore is not None and (
            not isinstance(datastore, str) or not CONNECTION_ID.fullmatch(datastore)
        ):
            raise ValueError(
                "DatastoreChangeTrigger: datastore must be an Airflow connection id or None, "
                f"got {datastore!r}"
            )
        if not isinstance(path_on_datastore, str):
            raise ValueError(
                f"DatastoreChangeTrigger: path_on_datastore must be a string, got {path_on_datastore!r}"
            )
        try:
            path = clean_datastore_path(path_on_datastore)
        except DatastoreError as exc:
            raise ValueError(f"DatastoreChangeTrigger: {exc}") from None
        if path == STATE_ROOT or path.startswith(STATE_ROOT + "/"):
            raise ValueError(
                f"DatastoreChangeTrigger: {STATE_ROOT!r} holds watch state and cannot be watched"
            )
        if (
            not isinstance(poll_interval, int | float)
            or isinstance(poll_interval, bool)
            or not poll_interval > 0
        ):
            raise ValueError(
                f"DatastoreChangeTrigger: poll_interval must be > 0 seconds, got {poll_interval!r}"
            )
        self.datastore = datastore
        self.path_on_datastore = path
        self.poll_interval = float(poll_interval)
        self._watch: DatastoreWatch | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "datastore": self.datastore,
                "path_on_datastore": self.path_on_datastore,
                "poll_interval": self.poll_interval,
            },
        )

    def _make_watch(self) -> DatastoreWatch:
        if self._watch is None:
            from airflow_provider_mlpipe.hooks.resolve import default_datastore_name, resolve_datastore

            name = self.datastore or default_datastore_name()
            self._watch = DatastoreWatch(resolve_datastore(name), name, self.path_on_datastore)
        return self._watch

    def _poll(self) -> tuple[WatchState, dict[str, str], list[Change]]:
        """Read the persisted state (then list) each time, so a change claimed elsewhere is seen."""
        watch = self._make_watch()
        state = watch.baseline()
        listing = watch.current()
        changes = watch.changes(state, listing)
        gone = watch.gone(state, listing)
        if not changes:
            state = watch.forget(state, gone)
        return state, gone, changes

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                state, gone, changes = await asyncio.to_thread(self._poll)
                watch = self._make_watch()
                for change in changes:
                    state, won = await asyncio.to_thread(watch.claim, state, change, gone)
                    if not won:
                        continue
                    path = watch.full_path(change.relative)
                    self.log.info("Datastore %r: %s file %r", watch.datastore, change.change, path)
                    yield TriggerEvent(
                        {
                            "datastore": watch.datastore,
                            "path_on_datastore": path,
                            "identity": change.identity,
                            "change": change.change,
                        }
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._watch = None  # build the client again: the connection may have changed
                self.log.warning(
                    "Watching %r on datastore %r failed (retrying in %.0f s): %s",
                    self.path_on_datastore,
                    self.datastore or "default",
                    self.poll_interval,
                    exc,
                )
            await asyncio.sleep(self.poll_interval)

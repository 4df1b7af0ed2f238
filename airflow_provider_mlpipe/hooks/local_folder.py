"""Local folder datastore (connection type `mlpipe_local`, extra `{"root": "/path"}`).

Also the embedded default datastore, so a pipeline runs with no cloud account. Writes go
through a temporary name and an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_mlpipe.hooks.datastore import (
    DatastoreClient,
    DatastoreError,
    NothingAtPath,
    clean_datastore_path,
)

_STAGING = ".mlpipe-staging"
#: Lock file, in a folder, that `replace_if_unchanged` holds while it replaces a file of that folder.
_REPLACE_LOCK = ".mlpipe-replace.lock"


def folder_of(conn: Any) -> str | None:
    """The folder an `mlpipe_local` connection names: extra `root`, else `host` (older connections)."""
    return (conn.extra_dejson or {}).get("root") or conn.host


def probe_folder(root: Path) -> tuple[bool, str]:
    """Whether a datastore can write at `root`, found by writing (and removing) a probe file there.

    Permission bits are not asked: ACLs, read-only mounts and root's privileges make them lie.
    Folders missing on the way are created for the probe and removed again.
    """
    where = f"(checked on {socket.gethostname()})"
    if root.exists() and not root.is_dir():
        return False, f"{root} is a file, not a folder {where}."
    missing: list[Path] = []
    anchor = root
    while not anchor.exists() and anchor != anchor.parent:
        missing.insert(0, anchor)
        anchor = anchor.parent
    if not anchor.is_dir():
        return False, f"cannot create {root}: {anchor} is a file {where}."
    created: list[Path] = []
    probe = root / _STAGING
    try:
        for folder in [*missing, probe]:
            if not folder.is_dir():
                folder.mkdir()
                created.append(folder)
        with open(probe / f"connection-test-{uuid.uuid4().hex}", "xb") as handle:
            handle.write(b"mlpipe")
        os.unlink(handle.name)
    except OSError as error:
        failed = f"cannot create {root}" if len(created) < len(missing) else f"{root} is not writable"
        return False, f"{failed}: {error.strerror or error} {where}."
    finally:
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:  # someone else wrote there meanwhile: theirs to keep
                break
    if missing:
        return True, f"{root} does not exist yet; it can be created in {anchor} {where}."
    return True, f"{root} exists and is writable {where}."


class LocalFolderDatastore(DatastoreClient):
    """A folder on this machine (or on a shared mount) used as a datastore."""

    kind = "local"

    def __init__(self, name: str, root: str | Path) -> None:
        super().__init__(name)
        self.root = Path(root).expanduser().resolve()

    @classmethod
    def from_connection(cls, name: str, conn: Any) -> LocalFolderDatastore:
        """Build from an `mlpipe_local` connection: the folder is extra `root` (or the host field)."""
        root = folder_of(conn)
        if not root:
            raise DatastoreError(
                f'datastore {name!r}: an mlpipe_local connection needs extra {{"root": "/path"}}'
            )
        return cls(name, root)

    def _path(self, path: str) -> Path:
        clean = clean_datastore_path(path)
        return self.root / clean if clean else self.root

    def uri(self, path: str) -> str:
        return self._path(path).as_uri()

    def local_path(self, path: str) -> Path:
        return self._path(path)

    def exists(self, path: str) -> bool:
        target = self._path(path)
        return target.is_file() or (target.is_dir() and any(target.iterdir()))

    def is_directory(self, path: str) -> bool:
        return self._path(path).is_dir()

    def list_files(self, path: str) -> list[str]:
        base = self._path(path)
        if not base.is_dir():
            return []
        found = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if d != _STAGING]
            for file in files:
                found.append(Path(folder, file).relative_to(base).as_posix())
        return sorted(found)

    def content_identity(self, path: str) -> list[tuple[str, str]]:
        """Size and content digest of each file; digests of unchanged files come from the hash cache."""
        from airflow_provider_mlpipe.runtime.content_hash import default_hash_cache

        target = self._path(path)
        if target.is_file():
            relative = [""]
            files = [target]
        else:
            relative = self.list_files(path)
            files = [target / r for r in relative]
        digests = default_hash_cache().digest_many(files)
        return [(r, f"{f.stat().st_size}:{d}") for r, f, d in zip(relative, files, digests, strict=True)]

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return self._path(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def create_only(self, path: str, data: bytes) -> bool:
        """Write a temporary file, then hard-link it into place: the link fails if the name exists."""
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with open(staged, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(staged, target)
            return True
        except FileExistsError:
            return False
        finally:
            staged.unlink(missing_ok=True)

    def read_versioned(self, path: str) -> tuple[bytes, str] | None:
        """The file's content and version: device, inode and content digest, read through one handle."""
        try:
            with open(self._path(path), "rb") as handle:
                data = handle.read()
                return data, _version(os.fstat(handle.fileno()), data)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def replace_if_unchanged(self, path: str, data: bytes, version: str) -> bool:
        """Replace the file only if it is still the one read as `version`.

        Race-safe: replacers of files in one folder take turns under an exclusive flock, so none
        sees the file between another's check and swap. The swap itself moves the checked file aside
        with one rename and then links the new one into place create-only (as `create_only` does),
        so a file that a writer without the lock created meanwhile (after a removal) is never
        overwritten: the link fails, or the moved-aside file turns out to be another version and is
        put back.
        """
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(target.parent / _REPLACE_LOCK):
            current = self.read_versioned(path)
            if current is None:
                return self.create_only(path, data)
            if current[1] != version:
                return False
            aside = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
            try:
                os.rename(target, aside)
            except FileNotFoundError:
                return self.create_only(path, data)
            try:
                with open(aside, "rb") as handle:
                    moved = handle.read()
                    moved_version = _version(os.fstat(handle.fileno()), moved)
                if moved_version != version:
                    with suppress(FileExistsError):
                        os.link(aside, target)
                    return False
                return self.create_only(path, data)
            finally:
                aside.unlink(missing_ok=True)

    def download(self, path: str, local_path: Path) -> Path:
        source = self._path(path)
        if source.is_file():
            local_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, local_path)
        elif source.is_dir():
            shutil.copytree(source, local_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_STAGING))
        else:
            raise NothingAtPath(f"datastore {self.name!r}: nothing at {path!r} (looked in {source})")
        return local_path

    def upload_file(self, local_file: Path, path: str, overwrite: bool = False) -> bool:
        target = self._path(path)
        if target.exists() and not overwrite:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            shutil.copy2(local_file, staged)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        return True

    def upload_directory(self, local_dir: Path, path: str, overwrite: bool = False) -> int:
        written = 0
        for folder, _dirs, files in os.walk(local_dir):
            for file in sorted(files):
                source = Path(folder, file)
                relative = source.relative_to(local_dir).as_posix()
                destination = f"{clean_datastore_path(path)}/{relative}".lstrip("/")
                written += self.upload_file(source, destination, overwrite=overwrite)
        return written

    def delete(self, path: str) -> None:
        target = self._path(path)
        if target == self.root:
            raise DatastoreError(f"datastore {self.name!r}: refusing to delete the whole datastore")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)

    def publish(self, local: Path, path: str) -> None:
        """Copy `local` next to its destination, then swap it in with one rename."""
        with self.staged(path, action="publish") as staging:
            if local.is_dir():
                shutil.copytree(local, staging)
            else:
                shutil.copy2(local, staging)

    @contextmanager
    def staged(self, path: str, action: str = "write") -> Iterator[Path]:
        """A fresh path next to the datastore's data to write a file or folder at; on success it
        replaces whatever was at `path` with one rename (a reader never sees half of it). Nothing
        written there, or an error, leaves `path` as it was.
        """
        target = self._path(path)
        if target == self.root:
            raise DatastoreError(f"datastore {self.name!r}: cannot {action} onto the datastore root")
        staging = self.root / _STAGING / uuid.uuid4().hex
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield staging
            if not staging.exists() and not staging.is_symlink():
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                old = self.root / _STAGING / f"old-{uuid.uuid4().hex}"
                os.replace(target, old)
                os.replace(staging, target)
                _remove(old)
            else:
                os.replace(staging, target)
        finally:
            _remove(staging)


def _version(stat: os.stat_result, data: bytes) -> str:
    """A file's version: which file (device, inode) with which content."""
    return f"{stat.st_dev}:{stat.st_ino}:{hashlib.sha256(data).hexdigest()}"


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_file` (created if needed; never removed, which would race)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class LocalFolderDatastoreHook(BaseHook):
    """Airflow hook for the `mlpipe_local` connection type: a folder used as a datastore."""

    conn_name_attr = "mlpipe_conn_id"
    default_conn_name = "mlpipe_default"
    conn_type = "mlpipe_local"
    hook_name = "mlpipe local folder datastore"

    def __init__(self, mlpipe_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlpipe_conn_id = mlpipe_conn_id

    def get_conn(self) -> LocalFolderDatastore:
        return LocalFolderDatastore.from_connection(
            self.mlpipe_conn_id, self.get_connection(self.mlpipe_conn_id)
        )

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form declared in the provider info, for Airflow < 3.2 (later versions read it there)."""
        from airflow_provider_mlpipe.get_provider_info import legacy_field_behaviour

        return legacy_field_behaviour(cls.conn_type)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: is the root folder there (or creatable) and writable, and on which host."""
        root = folder_of(self.get_connection(self.mlpipe_conn_id))
        if not root:
            return False, 'No folder given: fill in "Root folder" (extra {"root": "/path"}).'
        if not Path(root).expanduser().is_absolute():
            return False, (
                f"Root folder must be an absolute path (workers resolve {root!r} in their own "
                "working folders)."
            )
        return probe_folder(Path(root).expanduser().resolve())

"""Working folders of task attempts (`mlpipe-*` in the temp folder), and the sweep of dead ones.

An attempt's folder holds a lock file, flock()ed by the attempt for its whole life. The lock
is taken before the file gets its name (a temporary name is locked, then renamed into place),
so a folder whose lock file exists and can be locked belongs to an attempt that is gone: its
process died before it could remove the folder (SIGKILL, the OOM killer, a worker crash). The
kernel releases a flock only when every descriptor of it is closed, that is when the owner
process has exited, so the sweep never takes a live attempt's folder, whatever the timing.
Folders without the lock file (other tools', older versions', or one being made) are never touched.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_provider_mlpipe.runtime.guard import remove_folder

FOLDER_PREFIX = "mlpipe-"
LOCK_NAME = ".mlpipe-attempt.lock"

log = logging.getLogger(__name__)


@contextmanager
def attempt_folder(label: str, root: Path | None = None) -> Iterator[Path]:
    """A private working folder `mlpipe-<label>-*` for one attempt, removed when the block ends.

    First sweeps the folders of dead attempts in the same temp folder (`root`, else the system's).
    """
    root = Path(root or tempfile.gettempdir())
    sweep_dead_attempts(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{label}-", dir=root))
    lock = _hold_lock(folder)
    try:
        yield folder
    finally:
        # Removed while still locked, the lock file last: no sweep takes it before this process ends.
        remove_folder(folder)
        os.close(lock)


def _hold_lock(folder: Path) -> int:
    """Create the folder's lock file already locked; returns the descriptor that holds the lock."""
    staged = folder / f".{uuid.uuid4().hex}.lock"
    fd = os.open(staged, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.rename(staged, folder / LOCK_NAME)
    except BaseException:
        os.close(fd)
        raise
    return fd


def sweep_dead_attempts(root: Path | None = None) -> list[Path]:
    """Remove the working folders of dead attempts directly in `root`; returns the folders removed."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(FOLDER_PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        try:
            if (
                not entry.is_dir(follow_symlinks=False)
                or entry.stat(follow_symlinks=False).st_uid != os.getuid()
            ):
                continue
            fd = os.open(Path(entry.path, LOCK_NAME), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # no lock file: not an attempt folder, or one being made
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # locked: its attempt is alive
        try:
            if _same_file(fd, Path(entry.path, LOCK_NAME)):  # not a new folder made under the same name
                remove_folder(entry.path)
                removed.append(Path(entry.path))
        finally:
            os.close(fd)
    if removed:
        log.info(
            "Removed %d working folder(s) of dead attempts: %s", len(removed), ", ".join(map(str, removed))
        )
    return removed


def _same_file(fd: int, path: Path) -> bool:
    try:
        opened, named = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)

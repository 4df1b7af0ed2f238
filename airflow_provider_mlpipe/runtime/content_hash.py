"""Content digests of local files for the reuse key, with a persistent cache of unchanged files.

A file's blake3 digest is cached in SQLite under its absolute path and identity
`(st_size, st_mtime_ns, st_ctime_ns, st_ino)`. ctime is part of the identity because every write
changes it and `utime` cannot restore it, so a same-size edit with a restored mtime is still seen.

Racy entries (git's "racily clean" problem): a file changed again within the same filesystem
timestamp tick as the moment we read it would keep its identity. So a cached row is trusted only
when the file's ctime is older than the start of the hashing pass by `RACY_WINDOW_NS`; fresher
files are hashed again next time, after which their row becomes trusted.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import blake3

log = logging.getLogger(__name__)

#: Files larger than this are hashed through mmap with blake3's multithreading.
MMAP_THRESHOLD = 1 << 20
#: A cached digest is trusted only if the file's ctime is this much older than the hashing pass
#: (covers the kernel's coarse timestamp tick, at most 10 ms with HZ=100).
RACY_WINDOW_NS = 50_000_000
#: Seconds a writer waits for another process holding the SQLite write lock.
BUSY_TIMEOUT_S = 30.0
#: Rows looked up per SELECT ... IN (...) (under SQLite's historical 999 variable limit).
_SELECT_CHUNK = 900

_SELECT = "SELECT path, size, mtime_ns, ctime_ns, ino, digest, hashed_ns FROM file_hashes"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    digest TEXT NOT NULL,
    hashed_ns INTEGER NOT NULL
) WITHOUT ROWID
"""


def bytes_digest(data: bytes) -> str:
    """blake3 hex digest of `data`: the hash used for every reuse-key component."""
    return blake3.blake3(data).hexdigest()


def _hash_file(path: str, size: int) -> str:
    """blake3 hex digest of one file; `size` (from a stat) picks plain read or threaded mmap."""
    if size > MMAP_THRESHOLD:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        hasher.update_mmap(path)
        return hasher.hexdigest()
    with open(path, "rb", buffering=0) as f:
        return blake3.blake3(f.read()).hexdigest()


def file_digest(path: Path) -> str:
    """blake3 hex digest of the content of the file at `path` (uncached)."""
    name = os.fspath(path)
    return _hash_file(name, os.stat(name).st_size)


@dataclass(frozen=True)
class TreeDigest:
    """Digest of a set of files under one root, with their count and total size."""

    digest: str
    files: int
    total_bytes: int


class HashCache:
    """Persistent, multi-process-safe cache of file digests keyed by path and file identity.

    Backed by SQLite in WAL mode. Any failure to open or write the database turns caching off
    for this instance (one warning): digests are then computed every time, the task never fails.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._disabled = False

    # -- connection -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection | None:
        """The open connection of this process, opened on first use; None once caching is off."""
        if self._disabled:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._conn is not None:  # Inherited through fork(): never used nor closed by the child.
            _inherited_connections.append(self._conn)
        self._conn = None
        try:
            self._conn = self._open()
            self._pid = os.getpid()
        except (sqlite3.Error, OSError) as e:
            self._disable(f"cannot open it: {e}")
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            deadline = time.monotonic() + BUSY_TIMEOUT_S
            while True:  # Switching to WAL can report "locked" without waiting on a fresh database.
                try:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(_SCHEMA)
                    break
                except sqlite3.OperationalError as e:
                    if not _is_busy(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _disable(self, reason: str) -> None:
        if not self._disabled:
            log.warning("File hash cache %s disabled, hashing without it: %s", self.db_path, reason)
        self._disabled = True
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            if self._pid == os.getpid():
                try:
                    self._conn.close()
                except sqlite3.Error:
                    pass
            else:
                _inherited_connections.append(self._conn)
        self._conn = None

    def close(self) -> None:
        """Close the database connection (it is reopened on next use)."""
        with self._lock:
            self._drop_connection()

    # -- lookups ----------------------------------------------------------------------------

    def _load(self, conn: sqlite3.Connection, paths: list[str]) -> dict[str, tuple]:
        """Cached rows `path -> (path, size, mtime_ns, ctime_ns, ino, digest, hashed_ns)` of `paths`.

        Paths of one tree are neighbours in the primary key: one range scan between the smallest
        and largest path reads them all. Only if that range holds many other rows (a sparse
        subset of a large cached tree), they are looked up by chunks of `IN (...)` instead.
        """
        if not paths:
            return {}
        limit = 2 * len(paths) + 256
        rows = conn.execute(f"{_SELECT} WHERE path BETWEEN ? AND ? LIMIT ?", (min(paths), max(paths), limit))
        found = rows.fetchall()
        if len(found) < limit:
            return {row[0]: row for row in found}
        loaded: dict[str, tuple] = {}
        unique = list(dict.fromkeys(paths))
        for start in range(0, len(unique), _SELECT_CHUNK):
            chunk = unique[start : start + _SELECT_CHUNK]
            rows = conn.execute(f"{_SELECT} WHERE path IN ({','.join('?' * len(chunk))})", chunk)
            loaded.update({row[0]: row for row in rows.fetchall()})
        return loaded

    def _store(self, conn: sqlite3.Connection, new_rows: list[tuple]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?, ?, ?, ?)", new_rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            if _is_busy(e):  # Another process held the lock too long: skip caching this batch only.
                log.info("File hash cache %s busy, %d digests not cached", self.db_path, len(new_rows))
            else:
                self._disable(f"cannot write it: {e}")

    def _digest_stats(
        self, paths: list[str], stats: list[os.stat_result] | None = None
    ) -> list[tuple[int, str]]:
        """(size, digest) of each absolute path in `paths`: cached where the identity matches."""
        started_ns = time.time_ns()
        if stats is None:
            stats = [os.stat(p) for p in paths]
        # SQLite text must be valid UTF-8: undecodable file names (surrogate escapes) go uncached.
        keys = [p for p in paths if p.isascii() or _is_utf8(p)]
        cached: dict[str, tuple] = {}
        with self._lock:
            conn = self._connection()
            if conn is not None:
                try:
                    cached = self._load(conn, keys)
                except sqlite3.Error as e:
                    if _is_busy(e):
                        log.info("File hash cache %s busy, hashing without it", self.db_path)
                    else:
                        self._disable(f"cannot read it: {e}")
        results: list[tuple[int, str]] = []
        new_rows: list[tuple] = []
        for path, st in zip(paths, stats, strict=True):
            size = st.st_size
            row = cached.get(path)
            if (
                row is not None
                and row[1] == size
                and row[2] == st.st_mtime_ns
                and row[3] == st.st_ctime_ns
                and row[4] == st.st_ino
                and st.st_ctime_ns < row[6] - RACY_WINDOW_NS
            ):
                results.append((size, row[5]))
                continue
            digest = _hash_file(path, size)
            results.append((size, digest))
            # A racy row is stored too (it replaces the stale one) but is not trusted next time.
            row = (path, size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest, started_ns)
            cached[path] = row
            if len(keys) == len(paths) or path.isascii() or _is_utf8(path):
                new_rows.append(row)
        if new_rows:
            with self._lock:
                conn = self._connection()
                if conn is not None:
                    self._store(conn, new_rows)
        return results

    def digest(self, path: Path, stat: os.stat_result | None = None) -> str:
        """blake3 hex digest of one file, from the cache when its identity is unchanged.

        `stat` saves a syscall when the caller has one; it must have been taken before this call.
        """
        return self._digest_stats([os.path.abspath(path)], None if stat is None else [stat])[0][1]

    def digest_many(self, paths: list[Path]) -> list[str]:
        """blake3 hex digests of `paths` (in order): one query for the cached ones, one write."""
        return [digest for _, digest in self._digest_stats([os.path.abspath(p) for p in paths])]


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_busy(error: sqlite3.Error) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message


#: Connections a forked child inherited: kept referenced so that it never closes them.
_inherited_connections: list[sqlite3.Connection] = []
_default_caches: dict[str, HashCache] = {}
_default_lock = threading.Lock()


def default_hash_cache() -> HashCache:
    """The worker's shared cache, one per process and database file.

    At `[mlpipe] hash_cache` if set, else `$AIRFLOW_HOME/mlpipe_cache/file_hashes.sqlite`.
    """
    from airflow_provider_mlpipe import settings

    key = os.path.abspath(settings.hash_cache())
    with _default_lock:
        cache = _default_caches.get(key)
        if cache is None:
            cache = _default_caches[key] = HashCache(Path(key))
        return cache


def tree_digest(root: Path, relative_paths: list[str], cache: HashCache | None = None) -> TreeDigest:
    """Digest of the files `relative_paths` (POSIX, relative to `root`): names, sizes and contents.

    blake3 over `path \\0 size \\0 file_digest \\n` per file in sorted path order, so renames,
    edits, additions and removals all change it while the order of `relative_paths` does not.
    """
    names = sorted(set(relative_paths))
    base = os.path.abspath(root).rstrip("/") + "/"
    absolute = [base + name for name in names]
    if cache is not None:
        sized = cache._digest_stats(absolute)
    else:
        sized = []
        for path in absolute:
            size = os.stat(path).st_size
            sized.append((size, _hash_file(path, size)))
    lines = [f"{name}\0{size}\0{digest}\n" for name, (size, digest) in zip(names, sized, strict=True)]
    return TreeDigest(
        digest=bytes_digest("".join(lines).encode("utf-8", "surrogateescape")),
        files=len(names),
        total_bytes=sum(size for size, _ in sized),
    )

"""Content digests for the reuse key: blake3 of files and trees, and the SQLite cache of unchanged files."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

import blake3
import pytest

from airflow_provider_mlpipe.runtime import content_hash
from airflow_provider_mlpipe.runtime.content_hash import (
    MMAP_THRESHOLD,
    RACY_WINDOW_NS,
    HashCache,
    TreeDigest,
    bytes_digest,
    default_hash_cache,
    file_digest,
    tree_digest,
)


def write(root: Path, files: dict[str, bytes]) -> list[Path]:
    paths = []
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def settle() -> None:
    """Wait until freshly written files are past the racy window, so their digests get trusted."""
    time.sleep(RACY_WINDOW_NS / 1e9 + 0.02)


@pytest.fixture
def hash_calls(monkeypatch) -> list[str]:
    """Paths whose content the module reads, in order."""
    calls: list[str] = []
    real = content_hash._hash_file

    def counting(path: str, size: int) -> str:
        calls.append(path)
        return real(path, size)

    monkeypatch.setattr(content_hash, "_hash_file", counting)
    return calls


# -- file and bytes digests -------------------------------------------------------------------


def test_file_digest_follows_content(tmp_path):
    a, b, c = write(tmp_path, {"a": b"same", "b": b"same", "c": b"other"})
    assert file_digest(a) == file_digest(b) == blake3.blake3(b"same").hexdigest()
    assert file_digest(a) != file_digest(c)
    assert bytes_digest(b"same") == file_digest(a)


def test_empty_file(tmp_path):
    (empty,) = write(tmp_path, {"empty": b""})
    assert file_digest(empty) == blake3.blake3(b"").hexdigest() == bytes_digest(b"")


def test_large_file_through_mmap_equals_plain_blake3(tmp_path):
    data = os.urandom(MMAP_THRESHOLD * 2 + 3)
    (big,) = write(tmp_path, {"big.bin": data})
    assert big.stat().st_size > MMAP_THRESHOLD
    assert file_digest(big) == blake3.blake3(data).hexdigest()
    assert HashCache(tmp_path / "h.sqlite").digest(big) == blake3.blake3(data).hexdigest()


# -- tree digests -----------------------------------------------------------------------------


def test_tree_digest_changes_with_content_names_and_membership(tmp_path):
    write(tmp_path, {"train.py": b"print(1)\n", "pkg/util.py": b"x = 1\n", "pkg/data.csv": b"a,b\n"})
    names = ["train.py", "pkg/util.py", "pkg/data.csv"]
    base = tree_digest(tmp_path, names)
    assert base == TreeDigest(digest=base.digest, files=3, total_bytes=9 + 6 + 4)
    assert tree_digest(tmp_path, list(reversed(names))) == base
    assert tree_digest(tmp_path, names + ["train.py"]) == base  # a path listed twice counts once

    (tmp_path / "pkg/util.py").write_bytes(b"x = 2\n")  # same size, new content
    edited = tree_digest(tmp_path, names)
    assert edited.digest != base.digest and edited.total_bytes == base.total_bytes

    (tmp_path / "pkg/util.py").rename(tmp_path / "pkg/utils.py")  # same content, new name
    renamed = tree_digest(tmp_path, ["train.py", "pkg/utils.py", "pkg/data.csv"])
    assert renamed.digest not in (base.digest, edited.digest)

    removed = tree_digest(tmp_path, ["train.py", "pkg/utils.py"])
    write(tmp_path, {"extra.txt": b""})
    added = tree_digest(tmp_path, ["train.py", "pkg/utils.py", "pkg/data.csv", "extra.txt"])
    assert len({base.digest, edited.digest, renamed.digest, removed.digest, added.digest}) == 5
    assert (removed.files, added.files) == (2, 4)


def test_tree_digest_is_the_same_with_and_without_cache(tmp_path):
    files = {f"d{i % 3}/f{i}.txt": os.urandom(i * 100) for i in range(20)}
    write(tmp_path / "src", files)
    cache = HashCache(tmp_path / "h.sqlite")
    plain = tree_digest(tmp_path / "src", list(files))
    assert tree_digest(tmp_path / "src", list(files), cache) == plain
    assert tree_digest(tmp_path / "src", list(files), cache) == plain  # from the cache this time
    assert tree_digest(tmp_path / "src", [], cache) == TreeDigest(bytes_digest(b""), 0, 0)


# -- the cache --------------------------------------------------------------------------------


def test_unchanged_files_are_not_read_again(tmp_path, hash_calls):
    paths = write(tmp_path / "src", {f"f{i}.txt": f"file {i}".encode() for i in range(50)})
    settle()
    cache = HashCache(tmp_path / "h.sqlite")
    first = cache.digest_many(paths)
    assert first == [file_digest(p) for p in paths]
    assert len(hash_calls) == 50 + 50  # the module's hashing, then file_digest's own
    hash_calls.clear()

    assert cache.digest_many(paths) == first
    assert HashCache(tmp_path / "h.sqlite").digest_many(list(reversed(paths))) == first[::-1]
    assert cache.digest(paths[0], paths[0].stat()) == first[0]
    assert hash_calls == []


def test_racy_fresh_files_are_hashed_again_until_settled(tmp_path, hash_calls):
    (path,) = write(tmp_path, {"fresh.txt": b"just written"})
    cache = HashCache(tmp_path / "h.sqlite")
    cache.digest(path)
    cache.digest(path)  # written within the racy window: its row is not trusted yet
    assert len(hash_calls) == 2
    settle()
    cache.digest(path)  # hashed once more, now long after the write: trusted from here on
    cache.digest(path)
    assert len(hash_calls) == 3


def test_same_size_edit_with_restored_mtime_is_noticed(tmp_path, hash_calls):
    (path,) = write(tmp_path, {"model.cfg": b"lr=0.1"})
    settle()
    cache = HashCache(tmp_path / "h.sqlite")
    old = cache.digest(path)
    before = path.stat()

    path.write_bytes(b"lr=0.2")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )

    assert cache.digest(path) == blake3.blake3(b"lr=0.2").hexdigest() != old
    with sqlite3.connect(tmp_path / "h.sqlite") as db:  # the stale row was replaced, not added to
        rows = db.execute("SELECT digest FROM file_hashes WHERE path = ?", (str(path),)).fetchall()
    assert rows == [(blake3.blake3(b"lr=0.2").hexdigest(),)]


def test_replaced_file_is_noticed(tmp_path, hash_calls):
    (path,) = write(tmp_path, {"data.bin": b"AAAA"})
    settle()
    cache = HashCache(tmp_path / "h.sqlite")
    old = cache.digest(path)
    before = path.stat()

    (replacement,) = write(tmp_path, {"data.bin.tmp": b"BBBB"})
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)
    assert path.stat().st_ino != before.st_ino

    assert cache.digest_many([path]) == [blake3.blake3(b"BBBB").hexdigest()] != [old]


def _hash_in_worker(args: tuple[str, list[str], bool]) -> list[str]:
    db_path, names, backwards = args
    cache = HashCache(Path(db_path))
    order = list(reversed(names)) if backwards else names
    for start in range(0, len(order), 50):  # many small write transactions, interleaved
        cache.digest_many([Path(name) for name in order[start : start + 50]])
    return cache.digest_many([Path(name) for name in names])


def test_two_processes_share_one_database(tmp_path, hash_calls):
    paths = write(tmp_path / "src", {f"d{i % 10}/f{i}.bin": os.urandom(64 + i) for i in range(500)})
    settle()
    names = [str(p) for p in paths]
    db_path = str(tmp_path / "cache" / "h.sqlite")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        first, second = pool.map(_hash_in_worker, [(db_path, names, False), (db_path, names, True)])
    expected = [file_digest(p) for p in paths]
    assert first == second == expected
    hash_calls.clear()
    assert HashCache(Path(db_path)).digest_many(paths) == expected
    assert hash_calls == []  # every row the workers wrote is there


def test_unusable_database_falls_back_with_one_warning(tmp_path, caplog):
    paths = write(tmp_path / "src", {"a": b"a", "b": b"bb"})
    settle()
    (tmp_path / "a_file").write_text("")
    (tmp_path / "corrupt.sqlite").write_bytes(b"this is not a database" * 100)
    for db_path in (tmp_path / "a_file" / "h.sqlite", tmp_path / "corrupt.sqlite"):
        caplog.clear()
        cache = HashCache(db_path)
        with caplog.at_level(logging.WARNING, logger=content_hash.__name__):
            assert cache.digest_many(paths) == [file_digest(p) for p in paths]
            assert cache.digest_many(paths) == [file_digest(p) for p in paths]
            assert tree_digest(tmp_path / "src", ["a", "b"], cache) == tree_digest(
                tmp_path / "src", ["a", "b"]
            )
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "disabled" in warnings[0].getMessage()


def test_default_hash_cache_location(tmp_path, monkeypatch):
    from airflow.configuration import AIRFLOW_HOME

    monkeypatch.delenv("AIRFLOW__MLPIPE__HASH_CACHE", raising=False)
    assert default_hash_cache().db_path == Path(AIRFLOW_HOME) / "mlpipe_cache" / "file_hashes.sqlite"
    monkeypatch.setenv("AIRFLOW__MLPIPE__HASH_CACHE", str(tmp_path / "elsewhere.sqlite"))
    assert default_hash_cache().db_path == tmp_path / "elsewhere.sqlite"
    assert default_hash_cache() is default_hash_cache()

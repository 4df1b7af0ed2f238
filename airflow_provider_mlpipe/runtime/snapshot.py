"""The files of a step's `source_directory` that run (and, later, feed its reuse key).

Like v1's snapshot: `.amlignore` if present, else `.gitignore`, with gitignore semantics
(pathspec's GitIgnoreSpec). `.git` folders are never part of a snapshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

IGNORE_FILES = (".amlignore", ".gitignore")


def ignore_spec(source_dir: Path):  # -> pathspec.GitIgnoreSpec | None
    """The ignore rules at the root of `source_dir` (`.amlignore` wins over `.gitignore`)."""
    import pathspec

    for name in IGNORE_FILES:
        candidate = source_dir / name
        if candidate.is_file():
            return pathspec.GitIgnoreSpec.from_lines(candidate.read_text(encoding="utf-8").splitlines())
    return None


def snapshot_files(source_dir: Path) -> list[str]:
    """Sorted relative POSIX paths of the files that belong to the snapshot."""
    spec = ignore_spec(source_dir)
    found: list[str] = []
    for folder, dirs, files in os.walk(source_dir):
        relative_folder = Path(folder).relative_to(source_dir).as_posix()
        prefix = "" if relative_folder == "." else f"{relative_folder}/"
        kept_dirs = []
        for name in sorted(dirs):
            if name == ".git" or (spec is not None and spec.match_file(f"{prefix}{name}/")):
                continue
            kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in files:
            path = f"{prefix}{name}"
            if spec is None or not spec.match_file(path):
                found.append(path)
    return sorted(found)


def copy_snapshot(source_dir: Path, destination: Path, files: list[str] | None = None) -> list[str]:
    """Copy the snapshot of `source_dir` (or the `files` of one already taken) into `destination`;
    returns the files copied."""
    files = snapshot_files(source_dir) if files is None else files
    for relative in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_dir / relative, target)
    return files

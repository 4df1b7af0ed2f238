"""What a step run records about its code, and the guard against oversized snapshots.

Like Azure ML SDK v1: every step run records the git state of its `source_directory`
(`azureml.git.*` properties, overridable through `AZUREML_GIT_*` environment variables),
and a snapshot over 300 MB or 2000 files is refused before it is copied.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from airflow_provider_mlpipe.exceptions import SnapshotTooLargeError

GIT_TIMEOUT_SECONDS = 10

# Field of `git_info()` -> environment variable that overrides it (v1's names).
GIT_ENV_OVERRIDES = {
    "repository_uri": "AZUREML_GIT_REPOSITORY_URI",
    "branch": "AZUREML_GIT_BRANCH",
    "commit": "AZUREML_GIT_COMMIT",
    "dirty": "AZUREML_GIT_DIRTY",
}
# Run properties the fields are recorded under.
GIT_PROPERTIES = {field: f"azureml.git.{field}" for field in GIT_ENV_OVERRIDES}

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
# `scheme://userinfo@` of a URL: userinfo is where tokens hide (https://<token>@github.com/...).
_URL_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")

_MB = 1024 * 1024
_LARGEST_SHOWN = 5


def _git(source_dir: Path, *args: str) -> str | None:
    """Stripped stdout of `git <args>` run in `source_dir`; None when git fails or is missing."""
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=source_dir,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip()


def _strip_credentials(url: str | None) -> str | None:
    """`url` without the `user:password@` part, so tokens in a remote URL never reach run records."""
    if not url:
        return url
    return _URL_USERINFO.sub(r"\1", url)


def _parse_bool(value: str) -> bool | None:
    """True for true/1/yes, False for false/0/no (any case); None for anything else."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _git_state(source_dir: Path | None) -> dict[str, str | bool | None]:
    """The git state of `source_dir` (all None when it is not inside a git work tree)."""
    info: dict[str, str | bool | None] = dict.fromkeys(GIT_ENV_OVERRIDES)
    if source_dir is None or _git(source_dir, "rev-parse", "--show-toplevel") is None:
        return info
    # `--verify -q`: no output (None) on an unborn branch instead of echoing "HEAD".
    info["commit"] = _git(source_dir, "rev-parse", "--verify", "-q", "HEAD") or None
    # `symbolic-ref` fails on a detached HEAD (-> None) and still names an unborn branch.
    info["branch"] = _git(source_dir, "symbolic-ref", "--short", "-q", "HEAD") or None
    info["repository_uri"] = _strip_credentials(
        _git(source_dir, "config", "--get", "remote.origin.url") or None
    )
    # `--no-optional-locks`: status must not take index.lock while other steps use the repo.
    status = _git(
        source_dir, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", "--", "."
    )
    info["dirty"] = None if status is None else status != ""
    return info


def git_info(source_dir: Path | None, env: Mapping[str, str] | None = None) -> dict[str, str | bool | None]:
    """The git state recorded for a step run: `repository_uri`, `branch`, `commit`, `dirty`.

    Read with the git CLI (5 calls at most) in `source_dir`. Anything that stops git from
    answering (no `source_dir`, not a repository, git missing, a timeout, an error) gives
    None for that field; this never raises, since provenance must not fail a step.

    - `branch` is None on a detached HEAD; `commit` is None before the first commit;
      `repository_uri` (remote `origin`) is None without a remote and loses any
      `user:password@` part, so a token in the URL is not recorded.
    - `dirty` only looks at tracked files under `source_dir` (`git status -- .`): the snapshot
      is `source_dir`, so edits elsewhere in the repository do not change what the step ran.
      Untracked files do not count either (as in v1); the snapshot hash covers them.
    - Each `AZUREML_GIT_*` variable set in `env` (default `os.environ`) replaces its field,
      for runs from a copy without `.git` (CI artefacts, containers). An empty value clears
      the field; `AZUREML_GIT_DIRTY` is true/1/yes or false/0/no (any case), else None.
    """
    info = _git_state(source_dir)
    environ = os.environ if env is None else env
    for field, variable in GIT_ENV_OVERRIDES.items():
        value = environ.get(variable)
        if value is None:
            continue
        if field == "dirty":
            info[field] = _parse_bool(value)
        elif field == "repository_uri":
            info[field] = _strip_credentials(value.strip()) or None
        else:
            info[field] = value.strip() or None
    return info


def _human_size(size: int) -> str:
    """`412.0 MB`, `3.5 KB` or `12 bytes` (1 MB = 1024 * 1024 bytes, like the limit)."""
    if size >= _MB:
        return f"{size / _MB:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def check_snapshot_size(
    step_name: str, source_dir: Path, files: list[str], max_bytes: int, max_files: int
) -> int:
    """Total bytes of the snapshot `files` (relative to `source_dir`); raises when over a limit.

    Refusing early (as v1 did) beats copying and hashing gigabytes of data that was
    meant to be ignored. A limit of 0 means no limit. Sizes follow symlinks, as the copy
    does; a file that vanished or cannot be read counts as 0 bytes here.
    """
    sizes: list[tuple[int, str]] = []
    for relative in files:
        try:
            size = os.stat(source_dir / relative).st_size
        except OSError:
            size = 0
        sizes.append((size, relative))
    total = sum(size for size, _ in sizes)
    too_many = max_files > 0 and len(files) > max_files
    too_big = max_bytes > 0 and total > max_bytes
    if not (too_many or too_big):
        return total

    file_limit = f"{max_files:,} files" if max_files > 0 else "no limit on files"
    byte_limit = _human_size(max_bytes) if max_bytes > 0 else "no limit on size"
    largest = sorted(sizes, key=lambda item: (-item[0], item[1]))[:_LARGEST_SHOWN]
    shown = ", ".join(f"{relative} ({_human_size(size)})" for size, relative in largest)
    raise SnapshotTooLargeError(
        f"step {step_name!r}: source_directory {source_dir} holds {len(files):,} files / "
        f"{_human_size(total)}, over the limit of {file_limit} / {byte_limit}; "
        f"largest files: {shown}; "
        "exclude them with .amlignore or raise [mlpipe] snapshot_max_files / snapshot_max_mb"
    )


def snapshot_limits() -> tuple[int, int]:
    """(max_bytes, max_files) from `[mlpipe] snapshot_max_mb` / `snapshot_max_files`; 0 = no limit.

    Defaults are v1's 300 MB and 2000 files. Read at call time, not import time, so DAG
    parsing never touches the config; a negative value counts as 0 (no limit).
    """
    from airflow_provider_mlpipe import settings

    return max(settings.snapshot_max_mb(), 0) * _MB, max(settings.snapshot_max_files(), 0)

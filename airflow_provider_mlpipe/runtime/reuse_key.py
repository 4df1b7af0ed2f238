"""The components of a step's reuse key: everything that can change its outputs, nothing else.

Not in the key: run id, dates and DAG id, so two runs (or two DAGs) with the same step
share outputs.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


def value_component(name: str, value: Any, detail: str | None = None) -> KeyComponent:
    """A component whose digest is that of `value` as canonical JSON."""
    from airflow_provider_mlpipe.runtime.content_hash import bytes_digest

    text = json.dumps(value, sort_keys=True, default=str)
    shown = text if detail is None else detail
    return KeyComponent(
        name, bytes_digest(text.encode()), shown if len(shown) <= 300 else shown[:297] + "..."
    )


def source_component(source_dir: Path | None, script_path: Path, files: list[str]) -> KeyComponent:
    """Every file of the snapshot (path, size, content), or the script alone when there is no folder."""
    from airflow_provider_mlpipe.runtime.content_hash import default_hash_cache, tree_digest

    if source_dir is None:
        root, files = script_path.parent, [script_path.name]
    else:
        root = source_dir
    tree = tree_digest(root, files, default_hash_cache())
    return KeyComponent("source", tree.digest, f"{tree.files} file(s), {tree.total_bytes} bytes in {root}")


@functools.lru_cache(maxsize=16)
def interpreter_identity(configured: str | None) -> dict[str, str]:
    """The interpreter a script runs with: the step's `python_interpreter` as written, or "worker",
    and its Python version. Not its location on disk, which differs between worker machines."""
    if configured is None:
        return {"interpreter": "worker", "version": sys.version}
    probe = "import sys; print(sys.version)"
    result = subprocess.run(
        [configured, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    version = result.stdout.strip() or f"unknown (exit {result.returncode})"
    return {"interpreter": configured, "version": version}

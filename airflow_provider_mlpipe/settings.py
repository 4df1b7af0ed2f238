"""Every `[mlpipe]` option, read in this one module and always at call time (never at import,
so parsing a DAG file reads no config). Each option must be declared, with its default, in the
provider info (`get_provider_info`), which is what `airflow config list` and the docs show.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

SECTION = "mlpipe"


@cache
def declared_options() -> dict[str, dict[str, Any]]:
    """The `[mlpipe]` options declared in the provider info: name -> description, type, default."""
    from airflow_provider_mlpipe.get_provider_info import get_provider_info

    return get_provider_info()["config"][SECTION]["options"]


def _text(option: str) -> str:
    from airflow.configuration import conf

    default = declared_options()[option]["default"]  # KeyError: an undeclared option
    return conf.get(SECTION, option, fallback=default) or ""


def default_datastore() -> str:
    """`default_datastore`: the connection id of the default datastore ("" = `mlpipe_default`)."""
    return _text("default_datastore")


def default_container() -> str:
    """`default_container`: the container of a Blob datastore whose connection names none."""
    return _text("default_container")


def reuse_datastore() -> str:
    """`reuse_datastore`: where every step's reuse entries go ("" = with the step's outputs)."""
    return _text("reuse_datastore")


def embedded_root() -> Path:
    """`embedded_root`: folder of the embedded default datastore, else under AIRFLOW_HOME."""
    from airflow.configuration import AIRFLOW_HOME

    return Path(_text("embedded_root") or os.path.join(AIRFLOW_HOME, "mlpipe_datastore"))


def hash_cache() -> Path:
    """`hash_cache`: the worker's file-hash cache, else `$AIRFLOW_HOME/mlpipe_cache/file_hashes.sqlite`."""
    from airflow.configuration import AIRFLOW_HOME

    configured = _text("hash_cache")
    return (
        Path(configured).expanduser()
        if configured
        else Path(AIRFLOW_HOME) / "mlpipe_cache" / "file_hashes.sqlite"
    )


def snapshot_max_mb() -> int:
    """`snapshot_max_mb`: the largest source snapshot recorded with a run (v1: 300 MB)."""
    return int(_text("snapshot_max_mb"))


def snapshot_max_files() -> int:
    """`snapshot_max_files`: the most files in a recorded source snapshot (v1: 2000)."""
    return int(_text("snapshot_max_files"))


def poll_seconds(option: str) -> float:
    """A remote step kind's seconds between two polls of its job (e.g. `databricks_poll_seconds`)."""
    return float(_text(option))

"""The provider's own tables in Airflow's metadata DB (pipeline endpoints, schedules...).

They live beside Airflow's tables so that they are as durable as the runs they describe and
every api-server, scheduler and worker of a deployment sees the same rows; a notebook on the
embedded local Airflow uses its own metadata DB the same way. Each table is defined in the module
that uses it, on `METADATA`; `ensure_tables()` creates the missing ones (never alters or drops),
once per process, before first use. Their names start with `mlpipe_`, so they never clash with
Airflow's.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.exc import DatabaseError

#: The provider's tables: every module that defines one adds it here.
METADATA = MetaData()
_created: set[tuple[int, str]] = set()
_lock = threading.Lock()


def engine() -> Any:
    """Airflow's SQLAlchemy engine of the current AIRFLOW_HOME (configured on first use)."""
    from airflow import settings

    if settings.engine is None:
        settings.configure_orm()
    return settings.engine


def ensure_tables(bind: Any = None) -> Any:
    """Create the provider's missing tables (idempotent, safe across processes); returns the engine."""
    bind = bind or engine()
    key = (id(bind), str(bind.url))
    with _lock:
        if key not in _created:
            try:
                METADATA.create_all(bind, checkfirst=True)
            except DatabaseError:  # another process created one between the check and the CREATE
                METADATA.create_all(bind, checkfirst=True)
            _created.add(key)
    return bind

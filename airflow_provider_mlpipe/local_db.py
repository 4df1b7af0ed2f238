"""The metadata DB of the embedded local Airflow (the current AIRFLOW_HOME), made ready on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def ensure_airflow_db() -> None:
    """Migrate the metadata DB of the current AIRFLOW_HOME when it has no Airflow tables yet."""
    from airflow import settings
    from sqlalchemy import inspect

    if settings.engine is None:
        settings.configure_orm()
    if inspect(settings.engine).has_table("dag_version"):
        return
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run(
        [str(airflow if airflow.exists() else "airflow"), "db", "migrate"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")

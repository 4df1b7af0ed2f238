"""Helpers for integration tests: write DAG files into the test DAGs folder, run them for real."""

from __future__ import annotations

import runpy
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.conftest import DAGS_FOLDER, REPO


def write_project(name: str, dag_code: str, scripts: dict[str, str]) -> Path:
    """Write `<name>.py` (a DAG file) and its scripts under `<name>_src/` in the DAGs folder."""
    source = DAGS_FOLDER / f"{name}_src"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for relative, text in scripts.items():
        target = source / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    dag_file = DAGS_FOLDER / f"{name}.py"
    dag_file.write_text(textwrap.dedent(dag_code))
    return dag_file


def install_example() -> Path:
    """Link the repo's example pipeline into the test DAGs folder (scripts stay in the repo)."""
    target = DAGS_FOLDER / "mlpipe_compare_models.py"
    if not target.exists():
        target.symlink_to(REPO / "dags" / "mlpipe_compare_models.py")
    return target


def load_dag(dag_file: Path, dag_id: str):
    """Parse a DAG file and return the DAG named `dag_id` (a module variable, or a published
    pipeline's)."""
    from airflow.sdk import DAG

    namespace = runpy.run_path(str(dag_file), run_name=f"mlpipe_test_{dag_file.stem}")
    for value in namespace.values():
        value = getattr(value, "dag", value)  # Pipeline.publish's handle holds its DAG
        if isinstance(value, DAG) and value.dag_id == dag_id:
            return value
    raise LookupError(f"{dag_file} defines no DAG {dag_id!r}")


def run_dag(dag_file: Path, dag_id: str, conf: dict[str, Any] | None = None):
    """`dag.test()` the DAG: every task runs in this process through Airflow's task runner."""
    return load_dag(dag_file, dag_id).test(run_conf=conf)


def task_states(dag_run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}


def xcom_value(dag_run, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        row = session.scalars(query if hasattr(query, "whereclause") else select(query)).first()
        return None if row is None else XComModel.deserialize_value(row)


def tasks_tested_at_once(dag_id: str, task_id: str, env: dict[str, str], timeout: float) -> list[str]:
    """Run `airflow tasks test` for one task twice at the same time, each with its own copy of
    the metadata DB (as two workers would), and return both logs after checking both succeeded.

    The copies are made with SQLite's backup API: it includes what is still in the WAL, and it
    keeps this process's locks on the DB. Copying the file with open()/close() drops every POSIX
    lock this process holds on it, and the next process to close the DB then deletes the WAL
    that this process still writes to (its later writes are lost to every other process).
    """
    home = Path(env["AIRFLOW_HOME"])
    processes = []
    for number in (1, 2):
        database = home / f"race-{dag_id}-{number}.db"
        with (
            closing(sqlite3.connect(home / "airflow.db")) as source,
            closing(sqlite3.connect(database)) as copy,
        ):
            source.backup(copy)
        processes.append(
            subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), "tasks", "test", dag_id, task_id],
                env=dict(env, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{database}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    logs = [process.communicate(timeout=timeout)[0] for process in processes]
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-3000:]
    return logs

"""Test set-up: a private AIRFLOW_HOME with a migrated SQLite DB and a DAGs folder per session.

Environment variables are set before anything imports Airflow, so every test, the CLI
subprocesses and `dag.test()` see the same home, DB and DAGs folder.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The tests' own folder (captured logs and other fixtures live in it).
TESTS = REPO / "tests"
_HOME = Path(tempfile.mkdtemp(prefix="mlpipe-test-airflow-"))
DAGS_FOLDER = _HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__MLPIPE__EMBEDDED_ROOT": str(_HOME / "datastore"),
    }
)
for key in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "AIRFLOW__MLPIPE__DEFAULT"))]:
    del os.environ[key]

pytest_plugins = [
    "tests.services.azurite",
    "tests.services.databricks_standin",
    "tests.services.adla_standin",
    "tests.services.airflow_deployment",
    "tests.services.local_ui",
]

import pytest  # noqa: E402


def airflow_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None):
    """Run the real `airflow` CLI of this virtualenv against the test home."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def cache_in_process_execution_api() -> None:
    """Build dag.test()'s in-process execution API once per session, not once per task.

    Starting it costs seconds; Airflow 3.3 already caches it, older 3.x releases did not.
    """
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)


def pytest_sessionstart(session: pytest.Session) -> None:
    result = airflow_cli("db", "migrate")
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")
    cache_in_process_execution_api()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    return DAGS_FOLDER


@pytest.fixture(scope="session")
def embedded_datastore_root() -> Path:
    return _HOME / "datastore"

"""A real Airflow 3 deployment for tests: api-server, scheduler, dag-processor and triggerer as processes.

Each component is `airflow <component>` of this virtualenv, started on 127.0.0.1 in its own process
group with its own log file, all sharing a fresh PostgreSQL metadata database, their own AIRFLOW_HOME
and a DAGs folder the tests write DAG files into. Auth is Airflow's SimpleAuthManager with the users
`admin:admin`, `viewer:viewer` and `op:op`; tokens come from the real `POST /auth/token`.

Use it as the session fixture `airflow_deployment` (register with
`pytest_plugins = ["tests.services.airflow_deployment"]`), or outside pytest::

    with AirflowDeployment(executor="LocalExecutor", env={"AIRFLOW_CONN_X": "..."}) as airflow:
        airflow.write_dag("hello", dag_code, {"script.py": "..."})
        airflow.wait_for_dag("hello")
        run = airflow.wait_for_run("hello", airflow.trigger("hello", {"n": 1})["dag_run_id"])

Extra environment for the session fixture: override the session fixture `airflow_deployment_env`
(it is read once, when the deployment starts). Connections can also be created at run time with
`airflow.client().post("/api/v2/connections", json=...)`, which needs no restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_ADMIN_DATABASE = "postgres"

#: `airflow <component>` commands started by default; "api-server" is always needed (the helpers use it).
DEFAULT_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Components that report to `GET /api/v2/monitor/health`, by the key they report under.
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
#: SimpleAuthManager users as (name, password, role).
DEFAULT_USERS = (("admin", "admin", "admin"), ("viewer", "viewer", "viewer"), ("op", "op", "op"))

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
START_TIMEOUT_SECONDS = 180.0
MIGRATE_TIMEOUT_SECONDS = 300.0
STOP_GRACE_SECONDS = 15.0
LOG_TAIL_LINES = 40


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be reached on 127.0.0.1:5432 (or the database cannot be created)."""


class DeploymentError(RuntimeError):
    """A component failed to start, or the deployment did not become healthy in time."""


def airflow_executable() -> Path:
    """The `airflow` script of the virtualenv running the tests."""
    return Path(sys.executable).with_name("airflow")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (it could be taken before it is used: rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pg_connect(database: str = PG_ADMIN_DATABASE):
    try:
        import psycopg2
    except ImportError as error:  # the metadata DB URL needs it too
        raise PostgresUnavailable(f"psycopg2 is not installed: {error}") from error
    try:
        connection = psycopg2.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database, connect_timeout=5
        )
    except psycopg2.OperationalError as error:
        raise PostgresUnavailable(str(error).strip()) from error
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return connection


def create_database(prefix: str = "mlpipe_it_") -> str:
    """Create an empty database with a random name; raise PostgresUnavailable if that is impossible."""
    name = f"{prefix}{secrets.token_hex(6)}"
    connection = _pg_connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    except Exception as error:
        raise PostgresUnavailable(f"cannot create database {name}: {error}") from error
    finally:
        connection.close()
    return name


def drop_database(name: str) -> None:
    """Drop the database, disconnecting whoever is still connected (PostgreSQL 13+)."""
    connection = _pg_connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


class AirflowDeployment:
    """A running Airflow deployment; `start()`/`stop()` or use as a context manager.

    `home` and `dags_folder` default to new temporary folders (removed by `stop()` unless
    `keep_home`); a given `dags_folder` is never removed. `env` is merged last into every
    component's environment, so it can override any setting made here.
    """

    def __init__(
        self,
        *,
        home: Path | str | None = None,
        dags_folder: Path | str | None = None,
        executor: str = "LocalExecutor",
        components: Iterable[str] = DEFAULT_COMPONENTS,
        env: Mapping[str, str] | None = None,
        users: Iterable[tuple[str, str, str]] = DEFAULT_USERS,
        parallelism: int = 4,
        start_timeout: float = START_TIMEOUT_SECONDS,
        keep_home: bool = False,
    ) -> None:
        self.components = tuple(components)
        if "api-server" not in self.components:
            raise ValueError("components must include 'api-server': the deployment is driven through it")
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="mlpipe-deploy-"))
        self.dags_folder = Path(dags_folder) if dags_folder is not None else self.home / "dags"
        self.executor = executor
        self.users = tuple(users)
        self.parallelism = parallelism
        self.start_timeout = start_timeout
        self.keep_home = keep_home
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database: str | None = None
        self.env: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.startup_seconds: float | None = None
        self._tokens: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> AirflowDeployment:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> AirflowDeployment:
        """Create the database, migrate it, start the components and wait until they are healthy.

        Raises PostgresUnavailable before anything is started when PostgreSQL cannot be used.
        """
        started = time.monotonic()
        try:
            self.database = create_database()
            self.home.mkdir(parents=True, exist_ok=True)
            self.dags_folder.mkdir(parents=True, exist_ok=True)
            self.env = self._environment()
            self._write_passwords()
            self._migrate()
            for component in self.components:
                self._spawn(component)
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after 15 s, drop the DB."""
        self._terminate_all()
        if self.database is not None:
            with contextlib.suppress(PostgresUnavailable):
                drop_database(self.database)
            self.database = None
        if self._own_home and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    @property
    def async_database_url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    def _environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, _, r in self.users),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            # Airflow would derive postgresql+asyncpg://; psycopg 3 is the async driver we install.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.async_database_url,
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            # Shared by every component: task tokens (execution API) and log-server requests.
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Free ports, so deployments of parallel sessions do not fight over 8793/8794.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
            "AIRFLOW__MLPIPE__EMBEDDED_ROOT": str(self.home / "datastore"),
        }
        return {**inherited, **settings, **self.extra_env}

    def _write_passwords(self) -> None:
        path = Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        path.write_text(json.dumps({user: password for user, password, _ in self.users}) + "\n")

    def log_path(self, component: str) -> Path:
        return self.home / f"{component.replace(' ', '-')}.log"

    def _migrate(self) -> None:
        log = self.log_path("db-migrate")
        with log.open("wb") as output:
            try:
                result = subprocess.run(
                    [str(airflow_executable()), "db", "migrate"],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=self.home,
                    timeout=MIGRATE_TIMEOUT_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise DeploymentError(f"airflow db migrate timed out; log:\n{_tail(log)}") from error
        if result.returncode != 0:
            raise DeploymentError(f"airflow db migrate exited {result.returncode}; log:\n{_tail(log)}")

    def _spawn(self, component: str) -> None:
        command = [str(airflow_executable()), *shlex.split(component)]
        if component == "api-server":
            command += ["--port", str(self.port), "--host", "127.0.0.1"]
        with self.log_path(component).open("wb") as output:
            self.processes[component] = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.home,
                start_new_session=True,
            )

    def health(self) -> dict[str, Any] | None:
        """`GET /api/v2/monitor/health` (no auth needed), or None while the API server is not up."""
        import httpx

        try:
            response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def _unhealthy(self, health: dict[str, Any] | None) -> list[str]:
        if health is None:
            return ["api-server"]
        keys = ["metadatabase"] + [HEALTH_KEYS[c] for c in self.components if c in HEALTH_KEYS]
        return [key for key in keys if (health.get(key) or {}).get("status") != "healthy"]

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        unhealthy = ["api-server"]
        while time.monotonic() < deadline:
            exited = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
            if exited:
                raise DeploymentError(
                    f"components exited during start-up: {exited}\n{self.describe_logs(exited)}"
                )
            unhealthy = self._unhealthy(self.health())
            if not unhealthy:
                return
            time.sleep(0.5)
        raise DeploymentError(
            f"Airflow deployment not healthy after {self.start_timeout:.0f} s "
            f"(still unhealthy: {', '.join(unhealthy)})\n{self.describe_logs()}"
        )

    def describe_logs(self, components: Iterable[str] | None = None) -> str:
        """The tail of each component's log (all components by default), for error messages."""
        names = list(components) if components is not None else list(self.processes)
        return "\n".join(
            f"----- {name} ({self.log_path(name)}), last {LOG_TAIL_LINES} lines:\n{_tail(self.log_path(name))}"
            for name in names
        )

    def restart(self, component: str) -> None:
        """SIGTERM one component's process group (SIGKILL after 15 s) and start it again."""
        process = self.processes.pop(component)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log = self.log_path(component)
        previous = log.with_suffix(".before-restart.log")
        if log.exists():
            log.replace(previous)
        self._spawn(component)

    def _terminate_all(self) -> None:
        import psutil

        running = {name: p for name, p in self.processes.items() if p.poll() is None}
        descendants: dict[int, psutil.Process] = {}
        for process in running.values():
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(process.pid).children(recursive=True):
                    descendants[child.pid] = child
        for process in running.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in running.values():
            # The group may outlive its leader (workers, log servers): kill it whole either way.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.poll() is None:
                process.kill()
                process.wait()
        # Task processes run in process groups of their own: find them through psutil.
        leftovers = [p for p in descendants.values() if _alive(p)]
        for leftover in leftovers:
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        psutil.wait_procs(leftovers, timeout=5)
        self.processes.clear()

    # ------------------------------------------------------------------ helpers for tests

    def logs(self, component: str) -> str:
        """Everything a component (e.g. "scheduler", or "db-migrate") wrote so far."""
        path = self.log_path(component)
        return path.read_text(errors="replace") if path.exists() else ""

    def token(self, user: str = "admin", password: str = "admin") -> str:
        """A JWT from the real `POST /auth/token` (cached per user and password)."""
        import httpx

        key = (user, password)
        if key not in self._tokens:
            response = httpx.post(
                f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=30
            )
            if response.status_code not in (200, 201):
                raise PermissionError(
                    f"POST /auth/token for {user!r}: {response.status_code} {response.text[:500]}"
                )
            self._tokens[key] = response.json()["access_token"]
        return self._tokens[key]

    def client(self, user: str | None = "admin", password: str | None = "admin") -> httpx.Client:
        """An httpx client on the API server with a bearer token for `user` (none if `user` is None)."""
        import httpx

        headers = {} if user is None else {"Authorization": f"Bearer {self.token(user, password or '')}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def _get_json(self, path: str, **params: Any) -> Any:
        with self.client() as client:
            response = client.get(path, params=params)
            response.raise_for_status()
            return response.json()

    def write_dag(self, name: str, dag_code: str, scripts: Mapping[str, str] | None = None) -> Path:
        """Write `<name>_src/<scripts>` (listed in `.airflowignore`) and then the DAG file `<name>.py`.

        The DAG file is written last and renamed into place, so the dag-processor never sees a
        half-written file or a DAG whose scripts are not there yet.
        """
        if scripts:
            source = self.dags_folder / f"{name}_src"
            shutil.rmtree(source, ignore_errors=True)
            for relative, text in scripts.items():
                target = source / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(textwrap.dedent(text))
            ignore = self.dags_folder / ".airflowignore"
            lines = ignore.read_text().splitlines() if ignore.exists() else []
            if f"{name}_src/" not in lines:
                ignore.write_text("\n".join([*lines, f"{name}_src/"]) + "\n")
        dag_file = self.dags_folder / f"{name}.py"
        partial = self.dags_folder / f".{name}.py.partial"
        partial.write_text(textwrap.dedent(dag_code))
        partial.replace(dag_file)
        return dag_file

    def import_errors(self) -> list[dict[str, Any]]:
        return self._get_json("/api/v2/importErrors", limit=100)["import_errors"]

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll `GET /api/v2/dags/{dag_id}` until the dag-processor has serialised the DAG."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                response = client.get(f"/api/v2/dags/{dag_id}")
                if response.status_code == 200:
                    return response.json()
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        raise TimeoutError(
            f"DAG {dag_id!r} not in the API after {timeout:.0f} s (last: {response.status_code}); "
            f"import errors: {json.dumps(self.import_errors(), indent=1)}\n"
            f"{self.describe_logs(['dag-processor'])}"
        )

    def trigger(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, user: str = "admin", password: str = "admin"
    ) -> dict[str, Any]:
        """`POST /api/v2/dags/{dag_id}/dagRuns`; returns the new run (its id is `["dag_run_id"]`)."""
        with self.client(user, password) as client:
            response = client.post(
                f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})}
            )
        if response.status_code != 200:
            raise RuntimeError(f"triggering {dag_id!r} as {user!r}: {response.status_code} {response.text}")
        return response.json()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll the DAG run until it is `success` or `failed`; returns it (check `["state"]`)."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                response = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
                response.raise_for_status()
                run = response.json()
                if run["state"] in TERMINAL_RUN_STATES:
                    return run
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        raise TimeoutError(
            f"DAG run {dag_id}/{run_id} still {run['state']!r} after {timeout:.0f} s; "
            f"tasks: {self.task_states(dag_id, run_id)}\n{self.describe_logs(['scheduler'])}"
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        instances = self._get_json(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in instances["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task try's log as text, through the API (as the UI shows it)."""
        with self.client() as client:
            response = client.get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                headers={"Accept": "text/plain"},
            )
        return response.text

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The deserialised value of one XCom entry."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._get_json(path, deserialize=True)["value"]

    def airflow_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `airflow <args>` against this deployment's home and database."""
        return subprocess.run(
            [str(airflow_executable()), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.home,
            check=False,
        )


def _alive(process: Any) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="session")
def airflow_deployment_env() -> dict[str, str]:
    """Extra environment for every component of the session's deployment; override to add some."""
    return {}


@pytest.fixture(scope="session")
def airflow_deployment(
    tmp_path_factory: pytest.TempPathFactory, airflow_deployment_env: dict[str, str]
) -> Iterator[AirflowDeployment]:
    """One real Airflow deployment (LocalExecutor, PostgreSQL) for the whole session.

    Skipped when PostgreSQL is not reachable on 127.0.0.1:5432, except on CI (`CI=true`) where
    that is a failure.
    """
    root = tmp_path_factory.mktemp("airflow-deployment")
    deployment = AirflowDeployment(home=root / "home", dags_folder=root / "dags", env=airflow_deployment_env)
    try:
        deployment.start()
    except PostgresUnavailable as error:
        message = f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT}: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; it is required on CI")
        pytest.skip(message)
    try:
        yield deployment
    finally:
        deployment.stop()

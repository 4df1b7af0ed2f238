"""A real Airflow 3 deployment for tests: api-server, scheduler, dag-processor and triggerer as processes.

With `executor="CeleryExecutor"` and `components=CELERY_COMPONENTS` it also runs Celery workers
(`airflow celery worker`, one process tree each, with their own hostname and log-server port) on
the machine's Redis (127.0.0.1:6379, a database number private to the deployment, flushed at start
and stop) with the deployment's own PostgreSQL database as the result backend.

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
`airflow.client().post("/api/v2/connections", json=...)`, which needs no restart. The session
fixture `celery_deployment` is the same on CeleryExecutor with two workers (extra environment:
override `celery_deployment_env`); it also needs Redis.
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
    import redis

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_ADMIN_DATABASE = "postgres"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
#: Key in Redis database 0 that marks database number <n> as taken by a running deployment.
REDIS_CLAIM_KEY = "mlpipe:test-deployment:redis-db:{number}"
REDIS_CLAIM_SECONDS = 6 * 3600

#: `airflow <component>` commands started by default; "api-server" is always needed (the helpers use it).
DEFAULT_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The components of a CeleryExecutor deployment: the default ones and two Celery workers. A
#: component "celery worker <n>" runs `airflow celery worker --celery-hostname worker<n>@%h`.
CELERY_COMPONENTS = (*DEFAULT_COMPONENTS, "celery worker 1", "celery worker 2")
#: Task slots of each Celery worker (`--concurrency`).
CELERY_WORKER_CONCURRENCY = 2
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


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached on 127.0.0.1:6379, or it has no free database number for a deployment."""


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


def api_server_health(url: str) -> dict[str, Any] | None:
    """`GET /api/v2/monitor/health` (no auth needed), or None while the API server is not up."""
    import httpx

    try:
        response = httpx.get(f"{url}/api/v2/monitor/health", timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


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


def _redis(db: int = 0) -> redis.Redis:
    """A client of one Redis database that has answered PING; RedisUnavailable otherwise."""
    try:
        import redis
    except ImportError as error:  # the Celery broker needs it too
        raise RedisUnavailable(f"the redis client is not installed: {error}") from error
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_connect_timeout=5, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as error:
        raise RedisUnavailable(str(error).strip()) from error
    return client


def redis_available() -> bool:
    """Whether Redis answers PING on 127.0.0.1:6379 (the Celery broker of CeleryExecutor deployments)."""
    try:
        _redis().close()
    except RedisUnavailable:
        return False
    return True


def claim_redis_database(token: str) -> int:
    """Take a Redis database number (1..n-1) no other running deployment uses, and flush it.

    The claim is a key in database 0 that expires by itself, so a crashed session frees its number.
    """
    import redis

    admin = _redis()
    try:
        try:
            count = int(admin.config_get("databases").get("databases", 16))
        except redis.RedisError:  # CONFIG may be disabled; 16 is Redis's default
            count = 16
        for number in range(1, count):
            if admin.set(REDIS_CLAIM_KEY.format(number=number), token, nx=True, ex=REDIS_CLAIM_SECONDS):
                flush_redis_database(number)
                return number
    finally:
        admin.close()
    raise RedisUnavailable(f"all {count - 1} Redis databases are claimed by other deployments")


def release_redis_database(number: int, token: str) -> None:
    """Flush the database and drop the claim on it (only if it is still ours)."""
    with contextlib.suppress(RedisUnavailable):
        flush_redis_database(number)
        admin = _redis()
        try:
            key = REDIS_CLAIM_KEY.format(number=number)
            if admin.get(key) == token.encode():
                admin.delete(key)
        finally:
            admin.close()


def flush_redis_database(number: int) -> None:
    """Empty one Redis database (the broker's queues and results of a deployment)."""
    client = _redis(number)
    try:
        client.flushdb()
    finally:
        client.close()


def worker_number(component: str) -> int | None:
    """n for a component "celery worker <n>", else None."""
    prefix = "celery worker "
    if component.startswith(prefix) and component[len(prefix) :].isdigit():
        return int(component[len(prefix) :])
    return None


def _number_workers(components: Iterable[str]) -> tuple[str, ...]:
    """Give each bare "celery worker" a number, so every component has its own key and log."""
    names = list(components)
    taken = {worker_number(name) for name in names} - {None}
    numbers = (n for n in range(1, len(names) + len(taken) + 1) if n not in taken)
    named = tuple(f"celery worker {next(numbers)}" if name == "celery worker" else name for name in names)
    if len(set(named)) != len(named):
        raise ValueError(f"components must be unique, got {names}")
    return named


HOSTNAME_MODULE = "mlpipe_deployment_hostname"
HOSTNAME_VARIABLE = "MLPIPE_DEPLOYMENT_HOSTNAME"
_HOSTNAME_CODE = f'''"""[core] hostname_callable of a test deployment's Celery workers: each one its own hostname."""

import os


def hostname() -> str:
    return os.environ["{HOSTNAME_VARIABLE}"]
'''


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
    component's environment, so it can override any setting made here; `component_env` adds
    environment for single components (by name, e.g. "celery worker 1").

    Celery workers ("celery worker <n>"; a bare "celery worker" is numbered) need
    `executor="CeleryExecutor"` and Redis; worker n reports the hostname `worker<n>.localhost`
    (the task instances' `hostname`), so tests can tell which worker ran a task.
    """

    def __init__(
        self,
        *,
        home: Path | str | None = None,
        dags_folder: Path | str | None = None,
        executor: str = "LocalExecutor",
        components: Iterable[str] = DEFAULT_COMPONENTS,
        env: Mapping[str, str] | None = None,
        component_env: Mapping[str, Mapping[str, str]] | None = None,
        users: Iterable[tuple[str, str, str]] = DEFAULT_USERS,
        parallelism: int = 4,
        worker_concurrency: int = CELERY_WORKER_CONCURRENCY,
        start_timeout: float = START_TIMEOUT_SECONDS,
        keep_home: bool = False,
    ) -> None:
        self.components = _number_workers(components)
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
        self.component_env = {name: dict(values) for name, values in (component_env or {}).items()}
        self.worker_concurrency = worker_concurrency
        self.workers = tuple(c for c in self.components if worker_number(c) is not None)
        if self.workers and "Celery" not in executor:
            raise ValueError(f"Celery workers need a Celery executor, not {executor!r}")
        self.uses_celery = "Celery" in executor
        self.redis_db: int | None = None
        self._redis_token = secrets.token_hex(8)
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
            if self.uses_celery:
                self.redis_db = claim_redis_database(self._redis_token)
            self.database = create_database()
            self.home.mkdir(parents=True, exist_ok=True)
            self.dags_folder.mkdir(parents=True, exist_ok=True)
            self.env = self._environment()
            self._write_passwords()
            if self.workers:
                (self.home / "support").mkdir(exist_ok=True)
                (self.home / "support" / f"{HOSTNAME_MODULE}.py").write_text(_HOSTNAME_CODE)
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
        if self.redis_db is not None:
            release_redis_database(self.redis_db, self._redis_token)
            self.redis_db = None
        if self._own_home and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    @property
    def async_database_url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}"

    @property
    def broker_url(self) -> str:
        """The Celery broker: this deployment's own Redis database."""
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}"

    def worker_hostname(self, component: str) -> str:
        """The hostname a Celery worker reports (task instances' `hostname`)."""
        return f"worker{worker_number(component)}.localhost"

    def _celery_settings(self) -> dict[str, str]:
        """Broker, result backend, and failure detection fast enough for a worker-kill test."""
        return {
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.database_url}",
            # One task reserved per free slot, acknowledged when it ends (the provider's defaults,
            # made explicit): a killed worker holds no queued work and its task is not lost.
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # Publishing and state syncs get more than 1 s on a busy 2-core machine.
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            # The scheduler's heartbeat timeout, not Redis redelivery, retries a dead worker's task.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
            # A task whose worker died is failed (and retried) ~20 s later instead of 5 min.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        }

    def _component_environment(self, component: str) -> dict[str, str]:
        """`self.env` plus what one component needs for itself (a worker's hostname and log port)."""
        env = dict(self.env)
        number = worker_number(component)
        if number is not None:
            support = str(self.home / "support")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (support, env.get("PYTHONPATH")) if p)
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = f"{HOSTNAME_MODULE}.hostname"
            env[HOSTNAME_VARIABLE] = self.worker_hostname(component)
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        env.update(self.component_env.get(component, {}))
        return env

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
        if self.uses_celery:
            settings.update(self._celery_settings())
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

    def command(self, component: str) -> list[str]:
        """The command line that starts a component."""
        number = worker_number(component)
        if number is not None:
            return [
                str(airflow_executable()),
                *("celery", "worker", "--celery-hostname", f"worker{number}@%h"),
                *("--concurrency", str(self.worker_concurrency), "--without-mingle", "--without-gossip"),
            ]
        command = [str(airflow_executable()), *shlex.split(component)]
        if component == "api-server":
            command += ["--port", str(self.port), "--host", "127.0.0.1"]
        return command

    def _spawn(self, component: str) -> None:
        with self.log_path(component).open("wb") as output:
            self.processes[component] = subprocess.Popen(
                self.command(component),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._component_environment(component),
                cwd=self.home,
                start_new_session=True,
            )

    def health(self) -> dict[str, Any] | None:
        return api_server_health(self.url)

    def _unhealthy(self, health: dict[str, Any] | None) -> list[str]:
        if health is None:
            return ["api-server"]
        keys = ["metadatabase"] + [HEALTH_KEYS[c] for c in self.components if c in HEALTH_KEYS]
        unhealthy = [key for key in keys if (health.get(key) or {}).get("status") != "healthy"]
        return unhealthy + [w for w in self.workers if w in self.processes and not self.worker_ready(w)]

    def worker_ready(self, component: str) -> bool:
        """Whether a Celery worker has said `ready.` (it consumes tasks from then on)."""
        return " ready." in self.logs(component)

    def wait_for_worker(self, component: str, timeout: float | None = None) -> None:
        """Wait until a (re)started Celery worker is ready; raise DeploymentError if it exits or hangs."""
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while not self.worker_ready(component):
            process = self.processes[component]
            if process.poll() is not None:
                raise DeploymentError(
                    f"{component} exited {process.returncode}\n{self.describe_logs([component])}"
                )
            if time.monotonic() > deadline:
                raise DeploymentError(f"{component} not ready in time\n{self.describe_logs([component])}")
            time.sleep(0.5)

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
        self.stop_component(component)
        self.start_component(component)

    def stop_component(self, component: str) -> None:
        """SIGTERM one component's process group, SIGKILL it after 15 s; `start_component` starts it again."""
        process = self.processes.pop(component)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def start_component(self, component: str) -> None:
        """Start a stopped component (its previous log is kept as `<name>.before-restart.log`).

        Returns when a Celery worker is ready; other components are not waited for.
        """
        if component in self.processes:
            raise ValueError(f"{component} is running")
        log = self.log_path(component)
        previous = log.with_suffix(".before-restart.log")
        if log.exists():
            log.replace(previous)
        self._spawn(component)
        if component in self.workers:
            self.wait_for_worker(component)

    def process_tree(self, component: str) -> list[Any]:
        """The psutil processes of a component: its leader and every descendant (tasks, scripts)."""
        import psutil

        try:
            leader = psutil.Process(self.processes[component].pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.Error:
            return []

    def kill(self, component: str) -> None:
        """SIGKILL a component's whole process tree at once, as if its machine died; `restart` revives it.

        Task processes run in process groups of their own, so the tree is found through psutil.
        """
        import psutil

        tree = self.process_tree(component)
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.processes[component].pid, signal.SIGKILL)
        self.processes[component].wait(timeout=10)
        psutil.wait_procs(tree[1:], timeout=10)

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
        """A task try's log as text, through the API (as the UI shows it): one line per event.

        Airflow 3.3 serves logs as JSON only; each structured event becomes
        `<timestamp> <level> <event> key=value ...`, unstructured lines stay as they are.
        """
        with self.client() as client:
            response = client.get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                params={"full_content": True},
                headers={"Accept": "application/json"},
            )
        if response.status_code != 200:
            return response.text
        lines = []
        for item in response.json().get("content") or []:
            if not isinstance(item, dict):
                lines.append(str(item))
                continue
            fields = dict(item)
            head = [str(fields.pop(k)) for k in ("timestamp", "level", "event") if fields.get(k) is not None]
            fields.pop("sources", None)
            lines.append(" ".join(head + [f"{k}={v}" for k, v in fields.items()]))
        return "\n".join(lines)

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


def _started(deployment: AirflowDeployment, needed_by: str) -> Iterator[AirflowDeployment]:
    """Start `deployment` for a fixture and stop it after; a missing service skips (fails on CI)."""
    try:
        deployment.start()
    except (PostgresUnavailable, RedisUnavailable) as error:
        service = (
            f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT}"
            if isinstance(error, PostgresUnavailable)
            else f"Redis not usable on {REDIS_HOST}:{REDIS_PORT}"
        )
        message = f"{service}{needed_by}: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; it is required on CI")
        pytest.skip(message)
    try:
        yield deployment
    finally:
        deployment.stop()


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
    yield from _started(deployment, "")


@pytest.fixture(scope="session")
def celery_deployment_env() -> dict[str, str]:
    """Extra environment for every component of the session's Celery deployment; override to add some."""
    return {}


@pytest.fixture(scope="session")
def celery_deployment(
    tmp_path_factory: pytest.TempPathFactory, celery_deployment_env: dict[str, str]
) -> Iterator[AirflowDeployment]:
    """One real CeleryExecutor deployment (PostgreSQL, Redis, two workers) for the whole session.

    Skipped when PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) is not reachable, except
    on CI (`CI=true`) where that is a failure.
    """
    root = tmp_path_factory.mktemp("celery-deployment")
    deployment = AirflowDeployment(
        home=root / "home",
        dags_folder=root / "dags",
        executor="CeleryExecutor",
        components=CELERY_COMPONENTS,
        env=celery_deployment_env,
    )
    yield from _started(deployment, " (needed by the CeleryExecutor deployment)")

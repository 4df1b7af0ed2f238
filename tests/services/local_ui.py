"""The repository's `make` targets as a user runs them: a copy of the working tree and a fresh shell.

`make demo` and `make ui` write `.airflow/` next to the Makefile, so they run in a copy of the
working tree (tracked and untracked-but-not-ignored files, as a clone with local edits would
have). The shell is a fresh one: a HOME of its own (so a stray write to `~/airflow` shows), no
AIRFLOW_*/MLPIPE_* settings, and PATH without the virtualenv: `make ui` must work without an
activated venv. The virtualenv is linked in and `make -o .venv/.installed` keeps make from
reinstalling it (a real fresh clone installs first; that is `make install`'s job, not tested here).

`make ui` (`airflow standalone`) gets a free port through `PORT=`, and free log-server ports
(other test sessions run Airflows on this machine). It runs under `timeout`, which stops its whole
process group by itself after `lifetime` seconds even if the test process dies.

Session fixtures (register with `pytest_plugins = ["tests.services.local_ui"]`):
`local_checkout` (the copy and its shell), `local_demo` (`make demo` ran once in it) and
`local_ui` (`make ui` running in it, after the demo, as the README's Quickstart has it; its output
is kept as `.test-artifacts/make-ui.log`, or under `$MLPIPE_ARTIFACTS`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.services.airflow_deployment import api_server_health, free_port

if TYPE_CHECKING:
    import httpx

REPO = Path(__file__).resolve().parent.parent.parent
#: Not copied: build and run artefacts, and what is linked instead (.venv, node_modules).
SKIPPED_PARTS = frozenset(
    {".git", ".venv", "node_modules", ".airflow", ".demo", ".pytest_cache", ".ruff_cache", "__pycache__"}
)
LINKED = (".venv", "node_modules")
#: Environment a fresh login shell would not have (settings of this session, of make, of the venv).
DROPPED_PREFIXES = ("AIRFLOW", "_AIRFLOW", "MLPIPE", "DATABRICKS_")
DROPPED_NAMES = frozenset(
    {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PORT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
)
#: `make` without reinstalling the linked virtualenv.
MAKE = ("make", "-o", ".venv/.installed")
#: make ui's components, as `GET /api/v2/monitor/health` reports them.
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
#: What `airflow standalone` prints once its scheduler, dag-processor and triggerer heartbeat.
READY_LINE = "Airflow is ready"
#: What `airflow standalone` prints when a component's thread dies (e.g. it could not be started).
DEAD_COMPONENT = "Exception in thread"
#: Written by SimpleAuthManager on the first start: {"admin": "<generated password>"}.
PASSWORDS_FILE = Path(".airflow") / "simple_auth_manager_passwords.json.generated"
DEMO_TIMEOUT_SECONDS = 600.0
UI_START_TIMEOUT_SECONDS = 420.0
UI_LIFETIME_SECONDS = 3600
STOP_GRACE_SECONDS = 20.0


def working_tree_files(repo: Path = REPO) -> list[Path]:
    """Relative paths of the files a clone with local edits has (git's view; a walk without git)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        names = [Path(n) for n in listed.stdout.decode().split("\0") if n]
    else:
        names = [p.relative_to(repo) for p in repo.rglob("*") if p.is_file() or p.is_symlink()]
    return [n for n in names if not SKIPPED_PARTS & set(n.parts) and (repo / n).is_file()]


def copy_working_tree(target: Path, repo: Path = REPO) -> Path:
    """Copy the working tree to `target` and link the virtualenv and node_modules into it."""
    for name in working_tree_files(repo):
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, destination)
    for name in LINKED:
        if (repo / name).exists():
            (target / name).symlink_to(repo / name)
    return target


def fresh_shell_environment(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) as a new terminal would have it (see module doc)."""
    base = os.environ if base is None else base
    venv_bins = {Path(sys.executable).parent, Path(sys.prefix) / "bin", REPO / ".venv" / "bin"}
    venv_bins |= {p.resolve() for p in venv_bins if p.exists()}
    path = [p for p in base.get("PATH", "").split(os.pathsep) if p and Path(p) not in venv_bins]
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(DROPPED_PREFIXES) and k not in DROPPED_NAMES and not k.startswith("PYTEST")
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "PATH": os.pathsep.join(path)})
    return env


@dataclass
class LocalCheckout:
    """A copy of the working tree (`root`) and the fresh shell (`env`) commands run in."""

    root: Path
    env: dict[str, str]

    @property
    def user_home(self) -> Path:
        return Path(self.env["HOME"])

    def make(self, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None):
        """`make <args>` in the copy (output captured, never raises on a non-zero exit)."""
        return subprocess.run(
            [*MAKE, *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def password(self) -> str:
        """The generated password of make ui's user `admin`."""
        return json.loads((self.root / PASSWORDS_FILE).read_text())["admin"]


class LocalUI:
    """`make ui PORT=<port>` running in a checkout; `start()`/`stop()` or a context manager."""

    def __init__(self, checkout: LocalCheckout, lifetime: int = UI_LIFETIME_SECONDS) -> None:
        self.checkout = checkout
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.command = [*MAKE, "ui", f"PORT={self.port}"]
        self.lifetime = lifetime
        self.log_path = checkout.root / "make-ui.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    def __enter__(self) -> LocalUI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = UI_START_TIMEOUT_SECONDS) -> LocalUI:
        """Start make ui and wait until the API answers and every component is healthy."""
        env = {
            **self.checkout.env,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                ["timeout", "-k", "30", str(self.lifetime), *self.command],
                cwd=self.checkout.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self.wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> dict[str, Any] | None:
        return api_server_health(self.url)

    def unhealthy(self) -> list[str]:
        """Components not (yet) healthy; "api-server" while it does not answer."""
        health = self.health()
        if health is None:
            return ["api-server"]
        return [key for key in HEALTH_KEYS if (health.get(key) or {}).get("status") != "healthy"]

    def wait_until_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        unhealthy = ["api-server"]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"`{' '.join(self.command)}` exited {self.process.returncode}:\n{self.tail()}"
                )
            if DEAD_COMPONENT in self.log():  # standalone keeps running when a component cannot start
                raise RuntimeError(f"a component of `{' '.join(self.command)}` died:\n{self.tail()}")
            unhealthy = self.unhealthy()
            if not unhealthy and READY_LINE in self.log():
                return
            time.sleep(1)
        raise TimeoutError(
            f"`{' '.join(self.command)}` not ready after {timeout:.0f} s "
            f"(unhealthy: {unhealthy or 'none, but no ' + repr(READY_LINE)}):\n{self.tail()}"
        )

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def token(self) -> str:
        """A JWT for `admin` with the generated password, from the real `POST /auth/token`."""
        import httpx

        if self._token is None:
            response = httpx.post(
                f"{self.url}/auth/token",
                json={"username": "admin", "password": self.checkout.password()},
                timeout=30,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def client(self) -> httpx.Client:
        import httpx

        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=60
        )

    def stop(self) -> None:
        """SIGTERM the process group (make, standalone, its components), SIGKILL what is left."""
        import psutil

        process, self.process = self.process, None
        if process is None:
            return
        tree: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            tree = psutil.Process(process.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.wait()
        # Task processes may run in sessions of their own: end whatever of the tree is left.
        leftovers = [p for p in tree if p.is_running()]
        for leftover in leftovers:
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        psutil.wait_procs(leftovers, timeout=10)


@pytest.fixture(scope="session")
def local_checkout(tmp_path_factory: pytest.TempPathFactory) -> LocalCheckout:
    """A copy of the working tree and a fresh shell for it (see the module doc)."""
    root = tmp_path_factory.mktemp("checkout")
    copy_working_tree(root / "repo")
    return LocalCheckout(root / "repo", fresh_shell_environment(root / "user-home"))


@pytest.fixture(scope="session")
def local_demo(local_checkout: LocalCheckout) -> subprocess.CompletedProcess[str]:
    """`make demo` once in the checkout (the README's Quickstart); its result, checked by the tests."""
    return local_checkout.make("demo", timeout=DEMO_TIMEOUT_SECONDS)


@pytest.fixture(scope="session")
def local_ui(
    local_checkout: LocalCheckout, local_demo: subprocess.CompletedProcess[str]
) -> Iterator[LocalUI]:
    """`make ui PORT=<free port>` running in the checkout after `make demo`, stopped at the end."""
    if local_demo.returncode != 0:
        pytest.fail(
            f"make demo failed (exit {local_demo.returncode}):\n{local_demo.stdout[-3000:]}{local_demo.stderr[-3000:]}"
        )
    ui = LocalUI(local_checkout)
    try:
        with ui:
            yield ui
    finally:  # the checkout is temporary: keep make ui's output where the browser test keeps its own
        artifacts = Path(os.environ.get("MLPIPE_ARTIFACTS") or REPO / ".test-artifacts")
        artifacts.mkdir(parents=True, exist_ok=True)
        if ui.log_path.exists():
            shutil.copy(ui.log_path, artifacts / "make-ui.log")

"""Azurite, the local Azure Blob Storage emulator, for tests that drive the real azure-storage-blob.

Register with `pytest_plugins = ["tests.services.azurite"]` to get the session fixture `azurite`.
The `blob_connection*` helpers describe Airflow `wasb` connections to it, one per auth style.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
NOT_INSTALLED = "Azurite not installed: run `make test` (npm install)"
START_TIMEOUT_SECONDS = 20.0
STOP_GRACE_SECONDS = 3.0

#: Azurite's built-in account: a public, well-known development key, not a secret.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

#: Auth styles `blob_connection` can describe (all work over http against Azurite).
AUTH_STYLES = (
    "connection_string",
    "account_key",
    "shared_access_key",
    "sas_token",
    "sas_url",
    "legacy_extra",
)

_LISTENING = re.compile(r"listens on http://127\.0\.0\.1:(\d+)")


@dataclass
class AzuriteServer:
    """A running Azurite blob service on 127.0.0.1; `stop()` ends it (also usable as `with`)."""

    process: subprocess.Popen[str]
    port: int
    location: Path
    lines: list[str] = field(default_factory=list, repr=False)
    reader: threading.Thread | None = field(default=None, repr=False)
    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def output(self) -> str:
        """Everything Azurite printed so far."""
        return "".join(self.lines)

    def service_client(self, **kwargs: Any) -> BlobServiceClient:
        """An account-key client for setting up and inspecting data behind the code under test."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string, **kwargs)

    def stop(self) -> None:
        """Terminate Azurite, and kill it when it ignores SIGTERM for a few seconds."""
        _stop(self.process)
        if self.reader is not None:
            self.reader.join(timeout=STOP_GRACE_SECONDS)  # it ends at the output's EOF
        if self.process.stdout and not (self.reader and self.reader.is_alive()):
            self.process.stdout.close()

    def __enter__(self) -> AzuriteServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_azurite(workdir: Path, timeout: float = START_TIMEOUT_SECONDS) -> AzuriteServer:
    """Start Azurite's blob service on a free port, keeping its data under `workdir`."""
    if not AZURITE_BLOB.exists():
        raise FileNotFoundError(f"{NOT_INSTALLED} (looked for {AZURITE_BLOB})")
    location = Path(workdir)
    location.mkdir(parents=True, exist_ok=True)
    command = [
        str(AZURITE_BLOB),
        *("--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(location)),
        *("--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}  # keep the default account
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=location,
        env=env,
    )
    lines: list[str] = []
    seen: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_drain, args=(process, lines, seen), name="azurite-output", daemon=True)
    reader.start()
    port = _wait_for_port(process, lines, seen, timeout)
    return AzuriteServer(process=process, port=port, location=location, lines=lines, reader=reader)


def _drain(process: subprocess.Popen[str], lines: list[str], seen: queue.Queue[str | None]) -> None:
    """Keep reading Azurite's output for its whole life, so a full pipe never blocks it."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        seen.put(line)
    seen.put(None)


def _wait_for_port(
    process: subprocess.Popen[str], lines: list[str], seen: queue.Queue[str | None], timeout: float
) -> int:
    """Wait for the line naming Azurite's port; on failure stop it and raise with its output."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = seen.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:  # output closed: Azurite is exiting
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_SECONDS)
            break
        if match := _LISTENING.search(line):
            return int(match.group(1))
    exited = process.poll() is not None
    _stop(process)
    output = "".join(lines).strip() or "(no output)"
    problem = (
        f"exited with code {process.returncode} before listening"
        if exited
        else f"did not report its port within {timeout:.0f} s"
    )
    raise RuntimeError(f"Azurite {problem} ({AZURITE_BLOB}); output:\n{output}")


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, a few seconds' grace, then SIGKILL (Azurite can ignore SIGTERM for long)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """One Azurite for the test session; skipped locally (failed on CI) when it is not installed."""
    if not AZURITE_BLOB.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{NOT_INSTALLED}; it is required on CI (looked for {AZURITE_BLOB})")
        pytest.skip(NOT_INSTALLED)
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------- SAS tokens


def account_sas_token(server: AzuriteServer, hours: float = 1.0) -> str:
    """An account SAS allowing everything on blob containers and blobs for `hours`."""
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    return generate_account_sas(
        account_name=server.account_name,
        account_key=server.account_key,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, update=True
        ),
        expiry=_expiry(hours),
    )


def container_sas_token(server: AzuriteServer, container: str, hours: float = 1.0) -> str:
    """A SAS for one existing container: read, write, delete and list its blobs for `hours`."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        account_name=server.account_name,
        container_name=container,
        account_key=server.account_key,
        permission=ContainerSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True
        ),
        expiry=_expiry(hours),
    )


def _expiry(hours: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=hours)


# ---------------------------------------------------------------------- Airflow connections


def as_connection(description: dict[str, Any]) -> SimpleNamespace:
    """A Connection-like object from Airflow's JSON form of a connection (see `blob_connection`)."""
    return SimpleNamespace(
        conn_type=description["conn_type"],
        host=description.get("host"),
        login=description.get("login"),
        password=description.get("password"),
        extra_dejson=description.get("extra", {}),
    )


def blob_connection(
    server: AzuriteServer,
    container: str,
    root: str | None = None,
    auth: str = "connection_string",
    sas_token: str | None = None,
) -> dict[str, Any]:
    """A `wasb` connection to Azurite as Airflow's JSON form, for one of `AUTH_STYLES`.

    `sas_token` is used by the "sas_token" and "sas_url" styles (default: an account SAS).
    """
    extra: dict[str, Any] = {"container": container}
    if root is not None:
        extra["root"] = root
    connection: dict[str, Any] = {"conn_type": "wasb"}
    if auth == "connection_string":
        extra["connection_string"] = server.connection_string
    elif auth == "account_key":
        connection.update(host=server.blob_endpoint, login=server.account_name, password=server.account_key)
    elif auth == "shared_access_key":
        connection.update(host=server.blob_endpoint, login=server.account_name)
        extra["shared_access_key"] = server.account_key
    elif auth == "sas_token":
        connection.update(host=server.blob_endpoint, login=server.account_name)
        extra["sas_token"] = sas_token or account_sas_token(server)
    elif auth == "sas_url":
        extra["sas_token"] = f"{server.blob_endpoint}?{(sas_token or account_sas_token(server)).lstrip('?')}"
    elif auth == "legacy_extra":
        extra = {f"extra__wasb__{key}": value for key, value in extra.items()}
        extra["extra__wasb__connection_string"] = server.connection_string
    else:
        raise ValueError(f"unknown auth style {auth!r}; choose one of {AUTH_STYLES}")
    connection["extra"] = extra
    return connection


def blob_connection_json(server: AzuriteServer, container: str, **options: Any) -> str:
    """`blob_connection` serialised, the value for an `AIRFLOW_CONN_<ID>` environment variable."""
    return json.dumps(blob_connection(server, container, **options))


def airflow_conn_env(conn_id: str, connection: dict[str, Any]) -> dict[str, str]:
    """The environment variable that makes Airflow resolve `conn_id` to `connection`."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection)}

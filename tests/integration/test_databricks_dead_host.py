"""A Databricks host that accepts connections and never answers: steps fail within the connection's bounds.

The real databricks-sdk talks to a TCP server on 127.0.0.1 that accepts every connection and
holds it without a byte in reply (a hung workspace or a black-holing proxy), through what a step
does first: `DatabricksHook.submit` (the operator) and `DatabricksRunTrigger.run` (the triggerer).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.integration

#: The bound issue 11 sets for a dead host with the hook's default timeouts.
DEAD_HOST_BOUND_SECONDS = 60
TASK = {"task_key": "t", "existing_cluster_id": "c", "notebook_task": {"notebook_path": "/x"}}


@pytest.fixture
def silent_host() -> Iterator[str]:
    """`host:port` of a server that accepts connections, reads nothing and never answers."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []

    def accept_and_hold() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # the server was closed: the test is over
                return
            held.append(connection)

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()
    thread.join(timeout=5)
    for connection in held:
        connection.close()


def use_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, host: str, **extra: Any) -> None:
    connection = {"conn_type": "databricks", "host": f"http://{host}", "password": "dapi-silent-token"}
    if extra:
        connection["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


async def timed(call: Any) -> tuple[BaseException | None, float]:
    """(the error `call` raised or None, its seconds)."""
    started = time.monotonic()
    try:
        await call
    except Exception as error:
        return error, time.monotonic() - started
    return None, time.monotonic() - started


@pytest.mark.timeout(400)
def test_a_silent_host_fails_submit_and_trigger_within_a_minute_naming_the_host(silent_host, monkeypatch):
    from airflow.sdk.exceptions import AirflowException

    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook
    from airflow_provider_mlpipe.triggers.databricks import DatabricksRunTrigger

    use_connection(monkeypatch, "silent", silent_host)
    hook = DatabricksHook("silent")
    trigger = DatabricksRunTrigger(1, "silent", poll_interval=1.0)

    async def both() -> dict[str, tuple[BaseException | None, float]]:
        submit = asyncio.to_thread(hook.submit, "run", TASK, "token-silent", None)
        first_event = trigger.run().__anext__()
        results = await asyncio.gather(timed(submit), timed(first_event))
        return dict(zip(("submit", "trigger"), results, strict=True))

    # The operator's and the triggerer's paths side by side: one minute of waiting, not two.
    for path, (error, seconds) in asyncio.run(both()).items():
        print(f"{path}: failed after {seconds:.1f} s: {error}")
        assert error is not None, f"{path}: a silent host cannot succeed"
        assert isinstance(error, AirflowException), f"{path}: {type(error).__name__}: {error}"
        assert silent_host in str(error), f"{path}: the error does not name the host: {error}"
        assert seconds < DEAD_HOST_BOUND_SECONDS, f"{path}: held for {seconds:.0f} s"


def test_the_connections_timeouts_bound_a_call_and_bad_ones_are_refused(silent_host, monkeypatch):
    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook, DatabricksUnreachableError

    use_connection(monkeypatch, "quick", silent_host, retry_timeout_seconds=4, http_timeout_seconds="2")
    with pytest.raises(DatabricksUnreachableError) as caught:
        DatabricksHook("quick").get_run_state(7)
    message = str(caught.value)
    assert f"Databricks workspace http://{silent_host} (connection 'quick')" in message, message
    assert "runs/get of run 7 within 4 s" in message and "2 s per request" in message, message
    # The hook's own arguments win over the extras; the SDK's retry loop gets what its overrun leaves.
    options = DatabricksHook("quick", retry_timeout_seconds=60, http_timeout_seconds=20).config_options()
    assert (options["retry_timeout_seconds"], options["http_timeout_seconds"]) == (40, 20.0)

    for extra, problem in (
        ({"retry_timeout_seconds": 0}, "retry_timeout_seconds must be a positive number of seconds, got 0"),
        (
            {"http_timeout_seconds": "soon"},
            "http_timeout_seconds must be a positive number of seconds, got 'soon'",
        ),
        (
            {"retry_timeout_seconds": True},
            "retry_timeout_seconds must be a positive number of seconds, got True",
        ),
    ):
        use_connection(monkeypatch, "bad", silent_host, **extra)
        with pytest.raises(ValueError, match=f"Databricks connection 'bad': {problem}"):
            DatabricksHook("bad").config_options()

"""The client's `Workspace.request` over real HTTP: a GET rides out an api-server that is briefly
away (503, a dropped connection), a state change is never sent twice."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_mlpipe.exceptions import ApiError
from airflow_provider_mlpipe.workspace import Workspace


class FlakyApi(BaseHTTPRequestHandler):
    """Answers 503, then drops a connection, then 200; counts requests per method and path."""

    script: list[str] = []
    seen: list[str] = []

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        step = self.script.pop(0) if self.script else "ok"
        if step == "drop":
            self.close_connection = True
            self.connection.close()
            return
        status = 503 if step == "503" else 200
        body = json.dumps({"detail": "starting"} if status == 503 else {"Status": "Finished"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def flaky():
    FlakyApi.script, FlakyApi.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", FlakyApi
    server.shutdown()
    server.server_close()


def test_a_get_is_tried_again_while_the_api_server_is_briefly_away(flaky) -> None:
    url, api = flaky
    api.script = ["503", "drop", "503"]
    workspace = Workspace.connect(url, token="t")
    try:
        assert workspace.request("GET", "/mlpipe/runs/r1").json() == {"Status": "Finished"}
    finally:
        workspace.close()
    assert api.seen == ["GET /mlpipe/runs/r1"] * 4


def test_a_state_change_is_sent_once(flaky) -> None:
    url, api = flaky
    api.script = ["503"]
    workspace = Workspace.connect(url, token="t")
    try:
        with pytest.raises(ApiError) as raised:
            workspace.request("POST", "/mlpipe/runs/r1/cancel", json={})
    finally:
        workspace.close()
    assert raised.value.status_code == 503
    assert api.seen == ["POST /mlpipe/runs/r1/cancel"]

"""Fuzz every `/mlpipe` route on a real api-server: hostile paths, queries, headers and bodies.

The routes are read from the app itself (`create_app().routes`), so a route added later is fuzzed
without editing this file. First a sweep: every hostile path segment in every path parameter and
every hostile value in every query parameter, each once, as an authorised admin (so the input
reaches the route's own code). Then requests drawn from a seeded generator (`MLPIPE_FUZZ_SEED`,
default 11, so a failure can be replayed), `MLPIPE_FUZZ_REQUESTS` of them (default 400), mixing
hostile paths, queries, headers, credentials and bodies; all within a time budget. No answer may
be a 5xx and the keep-alive connection may never drop: any input a client can send is the
client's problem (4xx), never the server's.
"""

from __future__ import annotations

import json
import os
import random
import re
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "mlpipe_fuzzed"
PREFIX = "/mlpipe"
REQUESTS = int(os.environ.get("MLPIPE_FUZZ_REQUESTS", "400"))
SEED = int(os.environ.get("MLPIPE_FUZZ_SEED", "11"))
#: Stop drawing requests after this long (a bound for a slow machine, not an assertion).
BUDGET_SECONDS = 300.0

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep

out = PipelineData("out")
step = PythonScriptStep(
    "noop.py", name="noop", arguments=["--n", PipelineParameter("n", 1), "--rate", PipelineParameter("rate", 0.5),
    "--label", PipelineParameter("label", "x"), "--flag", PipelineParameter("flag", False), "--out", out],
    outputs=[out], source_directory="{PIPELINE}_src",
)
dag = Pipeline([step]).publish("{PIPELINE}", description="fuzzed", version="1", max_active_runs=1)
"""
NOOP = "import os, sys\nos.makedirs(sys.argv[sys.argv.index('--out') + 1], exist_ok=True)\n"

HOSTILE_SEGMENTS = [
    "a\x00b",
    "\x00",
    "a" * 251,
    "a" * 5000,
    "..",
    "../../etc/passwd",
    "é",
    "\U0001f600" * 3,
    "a b",
    "a/b",
    "\n",
    "\t",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%",
    "%ff",
    "-",
    ".",
    "manual__2026-01-01T00:00:00+00:00",
    "no_such_pipeline",
]
PRE_ENCODED_SEGMENTS = ["%00", "%ff%fe", "%C0%AF", "%ED%A0%80", "%25", "%2F", "%2e%2e", "%E2%80%AE"]
HOSTILE_QUERY_VALUES = [
    "-1",
    "0",
    "1",
    "1000",
    "1001",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "inf",
    "true",
    "yes",
    "",
    "\x00",
    "x" * 300,
    "x" * 5000,
    "[]",
    "é",
]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    "application/json; charset=utf-99",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "garbage",
    "application/",
]
ORIGINS = [None, "http://attacker.example", "null"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


@dataclass
class Route:
    """One route of the app, as the fuzzer fills it in."""

    path: str
    methods: list[str]
    params: list[str] = field(default_factory=list)
    query: list[str] = field(default_factory=list)


def app_routes() -> list[Route]:
    """Every route of the `/mlpipe` app (API routes and mounted static files), read from the app."""
    from fastapi.routing import APIRoute
    from starlette.routing import Mount

    from airflow_provider_mlpipe.api.app import create_app

    routes = []
    for route in create_app().routes:
        if isinstance(route, APIRoute):
            query = [param.alias for param in route.dependant.query_params]
            params = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            routes.append(Route(route.path, sorted(route.methods), params, query))
        elif isinstance(route, Mount):
            routes.append(Route(route.path + "/{path}", ["GET"], ["path"]))
    return routes


def _number(rng: random.Random) -> str:
    return rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 5000, "0", "-0.0", "1e308"])


def _hostile_string(rng: random.Random) -> str:
    choices = [
        "a\\u0000b",
        "\\ud800",
        "\\udfff\\ud800",
        "é\\u00e9",
        "\U0001f600",
        "line\\nbreak",
        "x" * rng.choice([1, 255, 256, 1000, 1001, 10_001]),
        "",
        " ",
        "<b>",
    ]
    return rng.choice(choices)


def _json_value(rng: random.Random, depth: int = 0) -> str:
    """A JSON-ish value as text: valid, hostile (NaN, NUL, surrogates) or of a surprising type."""
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return _number(rng)
    if kind == 1:
        return json.dumps(_hostile_string(rng)).replace("\\\\", "\\")
    if kind == 2:
        return rng.choice(["null", "true", "false", "1", "0.5", "-7", '"20"'])
    if kind == 3:
        return rng.choice(["[]", "{}", '""'])
    if kind == 4:
        return str(rng.randint(-(2**70), 2**70))
    if kind in (5, 6):
        keys = rng.sample(["n", "rate", "label", "flag", "nope", "", "a\\u0000", "é"], rng.randint(1, 3))
        return "{" + ", ".join(f'"{key}": {_json_value(rng, depth + 1)}' for key in keys) + "}"
    if kind == 7:
        return "[" + ", ".join(_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    depth_wanted = rng.choice([31, 33, 100, 5000])
    return "[" * depth_wanted + "]" * depth_wanted


def _submit_body(rng: random.Random) -> str:
    """A v1 submit payload with one or more fields made hostile."""
    fields = {
        "ExperimentName": rng.choice(['"fuzz"', _json_value(rng), json.dumps("e" * rng.choice([255, 256]))]),
        "ParameterAssignments": _json_value(rng),
        "Description": rng.choice([_json_value(rng), json.dumps("d" * rng.choice([1000, 1001, 100_000]))]),
        "Tags": _json_value(rng),
        "RunSource": _json_value(rng),
        "DataPathAssignments": _json_value(rng),
        "Unknown": _json_value(rng),
    }
    chosen = rng.sample(sorted(fields), rng.randint(1, len(fields)))
    if rng.random() < 0.3:
        chosen = ["ExperimentName", *[name for name in chosen if name != "ExperimentName"]]
    return "{" + ", ".join(f'"{name}": {fields[name]}' for name in chosen) + "}"


def _body(rng: random.Random) -> bytes | None:
    kind = rng.randrange(12)
    if kind < 5:
        return _submit_body(rng).encode("utf-8", "surrogatepass")
    if kind == 5:
        return None
    if kind == 6:
        return b""
    if kind == 7:
        return b'{"ExperimentName": "e", "Description": "' + b"x" * rng.choice([1_100_000, 5_000_000]) + b'"}'
    if kind == 8:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    if kind == 9:
        return rng.choice(
            [b"\xef\xbb\xbf{}", b'{"a": 1, "a": 2}', b"x=1&y=2", b"--x--", b"{", b"null", b"[]"]
        )
    if kind == 10:
        return _json_value(rng).encode("utf-8", "surrogatepass")
    return rng.choice([b"{}", b'{"ExperimentName": "e"}'])


def _segment(rng: random.Random, valid: str) -> str:
    roll = rng.random()
    if roll < 0.25:
        return valid
    if roll < 0.4:
        return rng.choice(PRE_ENCODED_SEGMENTS)
    segment = rng.choice(HOSTILE_SEGMENTS)
    return quote(segment.encode("utf-8", "surrogatepass"), safe="")


def _request(
    rng: random.Random, base: str, route: Route, tokens: dict[str, str], run_id: str
) -> httpx.Request:
    path = route.path
    for param in route.params:
        valid = run_id if "run" in param else ("monitor.js" if param == "path" else PIPELINE)
        path = path.replace("{" + param + "}", _segment(rng, valid))
    query = []
    for name in [*route.query, *rng.sample(["limit", "x", "\x00", "active_only"], rng.randint(0, 2))]:
        if rng.random() < 0.6:
            query.append(f"{quote(name, safe='')}={quote(rng.choice(HOSTILE_QUERY_VALUES), safe='')}")
    url = base + PREFIX + path + ("?" + "&".join(query) if query else "")
    method = rng.choice(route.methods) if rng.random() < 0.85 else rng.choice(METHODS)
    headers: dict[str, str] = {}
    auth = rng.choice(["admin", "admin", "viewer", "cookie", "cookie", "none", "garbage", "basic", "expired"])
    if auth in ("admin", "viewer"):
        headers["Authorization"] = f"Bearer {tokens[auth]}"
    elif auth == "cookie":
        headers["Cookie"] = f"_token={tokens['admin']}"
    elif auth == "garbage":
        headers["Authorization"] = rng.choice(["Bearer", "Bearer a.b.c", "Token x", "Bearer " + "x" * 4000])
    elif auth == "basic":
        headers["Authorization"] = "Basic YWRtaW46YWRtaW4="
        headers["Cookie"] = f"_token={tokens['admin']}"
    elif auth == "expired":
        headers["Cookie"] = "_token=" + rng.choice(["x", "a.b.c", tokens["admin"][:-5], "%C3%A9", '"quoted"'])
    content_type = rng.choice(CONTENT_TYPES)
    if content_type:
        headers["Content-Type"] = content_type
    origin = rng.choice(ORIGINS)
    if origin:
        headers["Origin"] = origin
    body = _body(rng) if method not in ("GET", "HEAD") or rng.random() < 0.2 else None
    return httpx.Request(method, url, headers=headers, content=body)


def _sweep(base: str, routes: list[Route], token: str, run_id: str) -> list[httpx.Request]:
    """Each hostile segment in each path parameter, each hostile value in each query parameter, as admin."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    segments = [quote(s, safe="") for s in HOSTILE_SEGMENTS] + PRE_ENCODED_SEGMENTS
    requests = []
    for route in routes:
        method = "POST" if "POST" in route.methods else route.methods[0]
        body = b'{"ExperimentName": "sweep"}' if method == "POST" else None
        valid = {
            p: run_id if "run" in p else ("monitor.js" if p == "path" else PIPELINE) for p in route.params
        }
        for param in route.params:
            for segment in segments:
                path = route.path
                for name in route.params:
                    path = path.replace("{" + name + "}", segment if name == param else valid[name])
                requests.append(httpx.Request(method, base + PREFIX + path, headers=headers, content=body))
        for name in route.query:
            path = route.path
            for param in route.params:
                path = path.replace("{" + param + "}", valid[param])
            for value in HOSTILE_QUERY_VALUES:
                url = f"{base}{PREFIX}{path}?{name}={quote(value, safe='')}"
                requests.append(httpx.Request(method, url, headers=headers, content=body))
    return requests


def _describe(request: httpx.Request) -> str:
    body = request.content or b""
    shown = body[:200] + (b"... (%d bytes)" % len(body) if len(body) > 200 else b"")
    headers = {k: (v[:60] + "...") if len(v) > 60 else v for k, v in request.headers.items() if k != "host"}
    return f"{request.method} {str(request.url)[:300]} headers={headers} body={shown!r}"


@pytest.fixture(scope="module")
def fuzzed(airflow_deployment) -> tuple[Any, str]:
    """The deployment with a published pipeline of int, number, string and boolean parameters, run once."""
    airflow_deployment.write_dag(PIPELINE, textwrap.dedent(DAG_FILE), {"noop.py": NOOP})
    airflow_deployment.wait_for_dag(PIPELINE, timeout=180)
    with airflow_deployment.client("admin", "admin") as admin:
        answer = admin.post(f"{PREFIX}/pipelines/{PIPELINE}/submit", json={"ExperimentName": "fuzz"})
        assert answer.status_code == 200, answer.text
        # A pipeline endpoint of the same name, so that `{endpoint}` path parameters reach real code.
        endpoint = admin.post(f"{PREFIX}/endpoints", json={"Name": PIPELINE, "PipelineId": PIPELINE})
        assert endpoint.status_code in (200, 409), endpoint.text
    return airflow_deployment, answer.json()["Id"]


def test_no_route_answers_5xx_or_drops_the_connection(fuzzed):
    deployment, run_id = fuzzed
    routes = app_routes()
    assert any(route.path == "/pipelines/{name}/submit" for route in routes)
    assert any(route.path == "/endpoints/{endpoint}/submit" for route in routes)
    tokens = {"admin": deployment.token("admin", "admin"), "viewer": deployment.token("viewer", "viewer")}
    rng = random.Random(SEED)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    sent = 0
    client = httpx.Client(base_url=deployment.url, timeout=60)
    sweep = _sweep(deployment.url, routes, tokens["admin"], run_id)
    planned = len(sweep) + REQUESTS
    try:
        while sent < planned and time.monotonic() - started < BUDGET_SECONDS:
            if sent < len(sweep):
                request = sweep[sent]
            else:  # every route in turn, each with fresh hostile input
                route = routes[(sent - len(sweep)) % len(routes)]
                request = _request(rng, deployment.url, route, tokens, run_id)
            sent += 1
            client.cookies.clear()  # only the cookies this request was given
            try:
                answer = client.send(request)
            except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.TimeoutException) as error:
                failures.append(f"dropped ({type(error).__name__}: {error}): {_describe(request)}")
                client.close()
                client = httpx.Client(base_url=deployment.url, timeout=60)
                continue
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code >= 500:
                failures.append(f"{answer.status_code} {answer.text[:200]!r}: {_describe(request)}")
    finally:
        client.close()
        with deployment.client("admin", "admin") as admin:  # runs the fuzz submitted stay queued
            admin.post(f"{PREFIX}/pipelines/{PIPELINE}/disable")
    seconds = time.monotonic() - started
    print(
        f"\nfuzz: {sent} requests ({len(sweep)} in the sweep) over {len(routes)} routes in {seconds:.1f} s "
        f"(seed {SEED}); "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert sent >= len(sweep) + min(REQUESTS, 2 * len(routes)), (
        f"only {sent} requests in {BUDGET_SECONDS:.0f} s"
    )
    assert not failures, f"{len(failures)} of {sent} requests failed:\n" + "\n".join(failures[:15])

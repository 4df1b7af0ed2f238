"""What every `/mlpipe` route gets before its own code runs: bounded, storable input, no cookie-only writes.

- `InputGuard` (ASGI middleware): a URL with a NUL character (which PostgreSQL refuses in text)
  is 400, for every route, typed or not; a body over `MAX_BODY_BYTES` is 413 before it is read
  whole; a JSON body Python reads but the metadata DB cannot store (NaN, Infinity, NUL, lone
  surrogates, deep nesting) is 400 naming where, so no route ever sees one.
- `refuse_cookie_only_writes` (app dependency): a state-changing request authenticated only by
  Airflow's session cookie must say `Content-Type: application/json` (a cross-site form or
  `text/plain` POST cannot, without a CORS preflight) or carry an Authorization header.
- `DagIdPath` / `RunIdPath`: path parameters with Airflow's own id rules, so a hostile name
  (`%00`, 5,000 characters) is 400 instead of reaching the database.
- `bad_request`: FastAPI's validation errors as 400 with the parameter and the rule, never the input.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from email.message import Message
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from airflow_provider_mlpipe.api import limits

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Methods that change nothing; every other one is a state change.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: How much of an oversized body is still read (and dropped) before the 413, so that the client,
#: which sends its whole body before it reads an answer, gets the 413 instead of a reset connection.
DRAIN_BYTES = 16 * limits.MAX_BODY_BYTES
#: Airflow's session cookie (`airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN`).
SESSION_COOKIE = "_token"


def _dag_id_rule() -> tuple[str, int]:
    """Airflow's DAG id rule: its KEY_REGEX and its ID_LEN (the dag_id column's length)."""
    from airflow.models.base import ID_LEN
    from airflow.utils.helpers import KEY_REGEX

    return KEY_REGEX.pattern, ID_LEN


_DAG_ID_PATTERN, _DAG_ID_LENGTH = _dag_id_rule()
#: A pipeline (DAG) name in a path: letters, digits, '_', '.', '-', at most 250 characters.
DagIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=_DAG_ID_LENGTH,
        pattern=_DAG_ID_PATTERN,
        description="A DAG id: letters, digits, '_', '.' or '-', at most 250 characters",
    ),
]
#: A run id in a path: printable, at most 250 characters (Airflow's run_id column).
RunIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=limits.MAX_RUN_ID_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="A DAG run id: no control characters, at most 250 characters",
    ),
]


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type header names JSON (`application/json` or `application/*+json`)."""
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def refuse_cookie_only_writes(request: Request) -> None:
    """403 for a state change that only the session cookie authenticates and that is not JSON.

    Airflow's own API gets this protection from its typed JSON bodies; our routes without a body
    (enable, disable) would otherwise run on a cross-site form POST that carries the cookie.
    Without any credential, Airflow's `get_user` answers 401 as usual.
    """
    if request.method in SAFE_METHODS or request.headers.get("authorization"):
        return
    if SESSION_COOKIE not in request.cookies or is_json(request.headers.get("content-type")):
        return
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        f"{request.method} with only Airflow's session cookie must send Content-Type: application/json "
        "(any JSON body, e.g. {}) or an Authorization header: a cross-site form cannot, so this "
        "protects against cross-site request forgery",
    )


async def bad_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's request validation errors as 400, naming each parameter and its rule (not its value)."""
    problems = []
    for item in error.errors() if isinstance(error, RequestValidationError) else []:
        where = " ".join(str(part) for part in item.get("loc", ()))
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status.HTTP_400_BAD_REQUEST)


class InputGuard:
    """ASGI middleware: NUL in the URL is 400, a body over MAX_BODY_BYTES 413, unstorable JSON 400."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await _answer(scope, send, status.HTTP_400_BAD_REQUEST, "the URL contains a NUL character (%00)")
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        declared = headers.get("content-length", "")
        too_large = declared.isdigit() and int(declared) > limits.MAX_BODY_BYTES
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            too_large = too_large or size > limits.MAX_BODY_BYTES
            if too_large:
                chunks.clear()
            else:
                chunks.append(chunk)
        if too_large:
            told = int(declared) if declared.isdigit() else None
            await _answer(scope, send, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, _too_large(told))
            return
        body = b"".join(chunks)
        content_type = headers.get("content-type")
        # FastAPI reads a body as JSON when it says so, or says nothing: check what it would read.
        problem = _json_body_problem(body) if body and (not content_type or is_json(content_type)) else None
        if problem:
            await _answer(scope, send, status.HTTP_400_BAD_REQUEST, problem)
            return
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _too_large(size: int | None) -> str:
    told = f" ({size} bytes)" if size is not None else ""
    return f"the request body{told} is larger than {limits.MAX_BODY_BYTES} bytes"


def _json_body_problem(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except RecursionError:
        return f"the body: nested deeper than {limits.MAX_JSON_DEPTH} levels"
    except ValueError as error:  # JSONDecodeError, bad UTF-8, an integer of over 4,300 digits
        return f"the body is not valid JSON: {str(error)[:200]}"
    return limits.json_problem(value)


async def _answer(scope: Scope, send: Send, code: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, code)
    await response(scope, _no_receive, send)


async def _no_receive() -> MutableMapping[str, Any]:
    return {"type": "http.disconnect"}

"""Every size and shape limit of the `/mlpipe` API, declared once (the README's REST section lists them).

Plain constants and one walk over parsed JSON, with no Airflow import: the submit payload checks
(`payload.py`, also used by local runs) and the HTTP guards (`guards.py`) share them.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Largest request body any route reads; a bigger one is refused with 413 before it is parsed.
MAX_BODY_BYTES = 1024 * 1024
#: Deepest nesting of objects and arrays in a JSON body (v1's submit payload is 3 levels deep).
MAX_JSON_DEPTH = 32
#: v1's experiment name rule: 1-255 letters, digits, '_' or '-', starting with a letter or digit.
EXPERIMENT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
#: Description becomes the run's note, which Airflow stores in 1000 characters.
MAX_DESCRIPTION_CHARS = 1000
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 250
MAX_TAG_VALUE_CHARS = 1000
MAX_RUN_SOURCE_CHARS = 100
#: ParameterAssignments and DataPathAssignments together.
MAX_PARAMETERS = 100
#: Any string inside a parameter value (including a DataPath's RelativePath).
MAX_PARAMETER_CHARS = 10_000
#: Names the API looks up or stores: DataStoreName here; pipeline names follow Airflow's DAG id rule.
MAX_NAME_CHARS = 250
#: Free-text query parameters (e.g. `?experiment_name=`), and run ids in paths (Airflow's ID_LEN).
MAX_QUERY_CHARS = 255
MAX_RUN_ID_CHARS = 250
#: Largest `?limit=` of `GET /mlpipe/runs`.
MAX_RUNS_LIMIT = 1000
#: Largest `?max_results=` of `GET /mlpipe/endpoints` (v1's default is 100).
MAX_ENDPOINTS_LIMIT = 1000


def json_problem(value: Any, where: str = "", depth: int = 0) -> str | None:
    """What makes `value` unfit to store as JSON in Airflow's metadata DB, naming where; None if fit.

    Python's json module reads NaN, Infinity and 1e999 as floats, which JSON itself does not have;
    PostgreSQL refuses NUL characters and lone surrogates in text; deep nesting costs recursion.
    `where` is the path of `value` in the body ("" for the body itself).
    """
    label = where or "the body"
    if len(label) > 120:
        label = label[:117] + "..."
    if depth > MAX_JSON_DEPTH:
        return f"{label}: nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, float) and not math.isfinite(value):
        name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"{label}: {name} is not a finite number (JSON has no NaN or Infinity)"
    if isinstance(value, str):
        return _text_problem(value, label)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _text_problem(str(key), f"{label}: a key")
            problem = problem or json_problem(item, member_path(where, key), depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = json_problem(item, f"{label}[{index}]", depth + 1)
            if problem:
                return problem
    return None


def member_path(where: str, key: Any) -> str:
    """The path of `key` in the object at `where`: `Field` at the top, `Field['key']` below."""
    if not where and isinstance(key, str) and key.isidentifier():
        return key
    return f"{where}[{shown(key)}]" if where else shown(key)


def _text_problem(text: str, where: str) -> str | None:
    if "\x00" in text:
        return f"{where}: contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{where}: contains a lone surrogate (not valid Unicode text)"
    return None


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to about `limit` characters and safe to put in a JSON answer (no lone surrogates)."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def length_problem(text: str, where: str, limit: int) -> str | None:
    """`where: N characters, at most <limit>` if `text` is longer than `limit`; None otherwise."""
    if len(text) > limit:
        return f"{where} has {len(text)} characters; at most {limit} are allowed"
    return None

"""README's "Porting from v1" table is true: every v1 class and method it names as ours exists in
the package, every one it names as refused is refused on import with its reason, and it names
every v1 callable of the signature fixture and every refused v1 name (`not_available.py`)."""

from __future__ import annotations

import json
import re

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe.not_available import NOT_AVAILABLE
from tests.conftest import REPO, TESTS

README = REPO / "README.md"
SECTION_TITLE = "## Porting from v1"
#: `Class`, `Class.method` or `Class(...)` at the start of a cell's first code span.
V1_NAME = re.compile(r"`(?P<cls>[A-Z]\w*)(?:\.(?P<attr>\w+))?[(`]")
REFUSED_MARK = "refused"
#: v1 class names of the fixture whose methods are ours under another class name.
SAME_AS = {"AbstractAzureStorageDatastore": "Datastore", "AzureBlobDatastore": "Datastore"}


def table_rows() -> list[tuple[str, str]]:
    """(v1 cell, mlpipe cell) of each row of the section's first table."""
    text = README.read_text()
    section = text[text.index(SECTION_TITLE) :]
    section = section[: section.index("\n## ", len(SECTION_TITLE))]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2 and not set(cells[0]) <= {"-", " "} and cells[0] != "Azure ML SDK v1":
            rows.append((cells[0], cells[1]))
    return rows


def named(cell: str) -> tuple[str, str | None] | None:
    match = V1_NAME.search(cell)
    return (match["cls"], match["attr"]) if match else None


ROWS = table_rows()


def test_the_table_is_found_and_long():
    assert len(ROWS) > 60


@pytest.mark.parametrize(("v1", "ours"), ROWS, ids=[row[0][:60] for row in ROWS])
def test_each_row_is_true(v1: str, ours: str):
    name = named(v1)
    if name is None:
        return  # a row about a parameter or a convention, not a class or method
    cls, attr = name
    if ours.lower().startswith(REFUSED_MARK):
        assert cls in NOT_AVAILABLE, f"{cls} is refused in the README but not in not_available.py"
        with pytest.raises(ImportError, match=re.escape(NOT_AVAILABLE[cls])):
            getattr(mlpipe, cls)
        return
    target = getattr(mlpipe, cls)
    if attr is not None:
        assert hasattr(target, attr), f"README says {cls}.{attr} exists"


def test_every_v1_callable_of_the_signature_fixture_is_in_the_table():
    fixture = json.loads((TESTS / "unit" / "fixtures" / "v1_signatures.json").read_text())
    listed = {named(v1) for v1, _ours in ROWS}
    missing = []
    for entry in fixture:
        cls, method = entry.split(":")[1].split(".")
        cls = SAME_AS.get(cls, cls)
        if (cls, None if method == "__init__" else method) not in listed:
            missing.append(f"{cls}.{method}")
    assert missing == []


def test_every_refused_name_is_in_the_table():
    refused = {named(v1)[0] for v1, ours in ROWS if named(v1) and ours.lower().startswith(REFUSED_MARK)}
    assert set(NOT_AVAILABLE) - refused == set()

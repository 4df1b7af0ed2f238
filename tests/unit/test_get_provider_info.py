"""The "Add connection" forms of the provider's connection types match what their hooks read.

Airflow 3.2+ builds the form from the provider info (`conn-fields`, `ui-field-behaviour`) and no
longer calls a hook's `get_ui_field_behaviour()`. Each field the hook reads must be offered with a
label and help; each standard field it ignores must be hidden. What a hook reads is taken from its
source (every `extra.get("...")`, `extra["..."]` and `conn.<field>`), so a new option in a hook
without a form field fails here.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from airflow_provider_mlpipe.get_provider_info import get_provider_info

STANDARD_FIELDS = {"host", "schema", "login", "password", "port"}
#: Older spellings a hook still reads so existing connections keep working, deliberately not offered
#: in the form: the folder in `host` (mlpipe_local), the account in extra `account_name` (mlpipe_adla).
LEGACY = {"mlpipe_local": {"host"}, "mlpipe_adla": {"account_name"}}


def connection_types() -> dict[str, dict]:
    return {c["connection-type"]: c for c in get_provider_info()["connection-types"]}


def _mentions_extra(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == "extra")
        or (isinstance(n, ast.Attribute) and n.attr == "extra_dejson")
        for n in ast.walk(node)
    )


def fields_read(module_name: str) -> tuple[set[str], set[str]]:
    """(extra keys, standard connection fields) the module's code reads from a connection."""
    source = Path(importlib.import_module(module_name).__file__).read_text()
    extras: set[str] = set()
    standard: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            if node.args and _mentions_extra(node.func.value):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _mentions_extra(node.value):
            key = node.slice
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in STANDARD_FIELDS
            and isinstance(node.value, ast.Name)
            and node.value.id == "conn"
        ):
            standard.add(node.attr)
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            extras.add(key.value)
    return extras, standard


@pytest.mark.parametrize("connection_type", ["mlpipe_local", "mlpipe_adla"])
def test_the_form_offers_exactly_what_the_hook_reads(connection_type):
    info = connection_types()[connection_type]
    module_name = info["hook-class-name"].rsplit(".", 1)[0]
    extras, standard = fields_read(module_name)
    legacy = LEGACY[connection_type]
    assert extras, f"found no extra read in {module_name}: the source scan is broken"

    conn_fields = info.get("conn-fields") or {}
    assert set(conn_fields) == extras - legacy
    for name, field in conn_fields.items():
        assert field.get("label"), f"{connection_type}: field {name!r} has no label"
        assert field.get("description"), f"{connection_type}: field {name!r} has no help text"
        assert "null" in field["schema"]["type"], f"{connection_type}: {name!r} must be optional"

    behaviour = info.get("ui-field-behaviour") or {}
    hidden = set(behaviour.get("hidden-fields", []))
    offered = standard - legacy
    assert hidden == STANDARD_FIELDS - offered
    for name in offered:
        assert behaviour["relabeling"].get(name), (
            f"{connection_type}: standard field {name!r} keeps its raw label"
        )
        assert behaviour["placeholders"].get(name), (
            f"{connection_type}: standard field {name!r} has no placeholder"
        )


@pytest.mark.parametrize("connection_type", ["mlpipe_local", "mlpipe_adla"])
def test_the_hook_name_is_declared_and_matches_the_hook(connection_type):
    info = connection_types()[connection_type]
    module_name, class_name = info["hook-class-name"].rsplit(".", 1)
    hook = getattr(importlib.import_module(module_name), class_name)
    assert info["hook-name"] == hook.hook_name
    assert hook.conn_type == connection_type


def test_airflow_reads_the_forms_from_the_provider_info():
    """Airflow's own parser accepts them (it drops a malformed behaviour with only a log warning)."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager._connection_form_widgets_from_metadata
    behaviours = manager._field_behaviours_from_metadata
    for connection_type, info in connection_types().items():
        assert connection_type in behaviours
        for name in info["conn-fields"]:
            assert f"extra__{connection_type}__{name}" in widgets


@pytest.mark.parametrize("connection_type", ["mlpipe_local", "mlpipe_adla"])
def test_hooks_give_the_same_form_to_airflow_before_3_2(connection_type):
    """Airflow < 3.2 asks the hook; it gets the declaration above, in the shape Airflow validates."""
    from airflow.providers_manager import _create_customized_form_field_behaviours_schema_validator

    info = connection_types()[connection_type]
    module_name, class_name = info["hook-class-name"].rsplit(".", 1)
    legacy = getattr(importlib.import_module(module_name), class_name).get_ui_field_behaviour()
    _create_customized_form_field_behaviours_schema_validator().validate(legacy)
    declared = info["ui-field-behaviour"]
    assert legacy == {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }

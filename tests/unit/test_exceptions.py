"""One exceptions module: errors a task raises are AirflowExceptions, so no operator re-wraps them."""

from __future__ import annotations

import ast
from pathlib import Path

from airflow.sdk.exceptions import AirflowException

import airflow_provider_mlpipe
from airflow_provider_mlpipe import exceptions

OPERATORS = Path(airflow_provider_mlpipe.__file__).parent / "operators"


def test_task_errors_are_airflow_exceptions_and_parse_time_ones_stay_value_errors():
    for error in (
        exceptions.DatastoreError,
        exceptions.NothingAtPath,
        exceptions.StepDataError,
        exceptions.SnapshotTooLargeError,
        exceptions.UsqlScriptError,
        exceptions.DatabricksUnreachableError,
    ):
        assert issubclass(error, AirflowException), error
    assert issubclass(exceptions.SnapshotTooLargeError, ValueError)
    assert issubclass(exceptions.UsqlScriptError, ValueError)
    assert issubclass(exceptions.DatastoreError, RuntimeError)


def test_no_operator_catches_a_provider_error_only_to_raise_it_again():
    """The old pattern was `except StepDataError as error: raise AirflowException(str(error))`."""
    ours = {name for name in dir(exceptions) if name.endswith(("Error", "AtPath"))} | {"ValueError"}
    rewraps = []
    for path in sorted(OPERATORS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            caught = (
                set(ast.unparse(node.type).strip("()").replace(" ", "").split(","))
                if isinstance(node, ast.ExceptHandler) and node.type
                else set()
            )
            if caught & ours and any(isinstance(inner, ast.Raise) for inner in ast.walk(node)):
                rewraps.append(f"{path.name}:{node.lineno} ({', '.join(sorted(caught))})")
    assert rewraps == []

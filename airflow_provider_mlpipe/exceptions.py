"""The provider's errors, in one place.

Those a task can raise are `AirflowException`s, so an operator lets them through as they are
(each message already names the step, datastore or job); the ones parse-time code also raises
keep `ValueError` as a second base, so callers that catch `ValueError` still do.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException


class DatastoreError(AirflowException, RuntimeError):
    """A datastore could not be resolved or could not do what was asked."""


class NothingAtPath(DatastoreError):
    """`download` found neither a file nor a folder at the path (the message names datastore and path)."""


class StepDataError(AirflowException, RuntimeError):
    """An input could not be found or an output could not be published; names step and data."""


class SnapshotTooLargeError(AirflowException, ValueError):
    """A step's snapshot is over `[mlpipe] snapshot_max_files` or `snapshot_max_mb`."""


class UsqlScriptError(AirflowException, ValueError):
    """A U-SQL script's `@@name@@` placeholders cannot be filled (the message names step and name)."""


class DatabricksUnreachableError(AirflowException):
    """The workspace did not answer a call within the connection's bounds (down, hung or unreachable)."""


# -- the notebook client (not raised by tasks) --------------------------------------------------


class PipelineRunError(ValueError):
    """A run ended Failed, or the API refused a request (`status_code` and the server's `detail`)."""

    def __init__(self, message: str, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail if detail is not None else message


class ApiError(PipelineRunError):
    """The Airflow API server answered 4xx/5xx; `status_code` and `detail` are the server's."""

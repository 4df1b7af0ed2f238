"""Errors raised while a pipeline is defined (that is, while its DAG file is parsed)."""

from __future__ import annotations


class PipelineValidationError(ValueError):
    """A pipeline definition is wrong; the message names each step and problem.

    Raised from the DAG file, so Airflow lists it as that file's import error.
    """

    def __init__(self, problems: list[str], pipeline: str | None = None) -> None:
        self.problems = list(problems)
        where = f"pipeline {pipeline!r}" if pipeline else "pipeline"
        if len(self.problems) == 1:
            message = f"{where} is not valid: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{where} has {len(self.problems)} problems:\n{lines}"
        super().__init__(message)

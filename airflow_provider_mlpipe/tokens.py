"""Step argument tokens: how every step kind passes arguments and parameters from parse to run.

A token is what a DAG file's value becomes in an operator argument: a literal the author wrote,
or a reference to a pipeline parameter, an input or an output, bound only when the step runs.
`authoring.steps.encode_token` makes them at parse time; `Binding` binds them at run time, for
every kind (script arguments and `params`, Databricks parameters, ADLA `@@name@@` values).
Plain dicts, so operator arguments stay JSON and the DAG file imports nothing for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict


class LiteralToken(TypedDict):
    """Text the author wrote (a Jinja template when the task renders)."""

    value: str


class ParameterToken(TypedDict):
    """A pipeline parameter, bound to the run's value."""

    parameter: str


class InputToken(TypedDict):
    """An input, bound to where the step reads it."""

    input: str


class OutputToken(TypedDict):
    """An output, bound to where the step writes it."""

    output: str


#: A bare `str` is a literal too: Databricks and ADLA steps keep their parameters as the plain
#: strings of those services' APIs.
Token = LiteralToken | ParameterToken | InputToken | OutputToken | str


@dataclass(frozen=True)
class Binding:
    """The values tokens take in one run of one step.

    `data`: each input's and output's path or URI in this run; None when binding for the reuse
    key, where data is named (`<input raw>`) because its path changes from run to run.
    `one_line`: refuse a multi-line parameter value (a script's command line cannot carry one).
    """

    step_name: str
    params: Mapping[str, Any]
    data: Mapping[str, str] | None = None
    one_line: bool = False

    def text(self, token: Token) -> str:
        """One token as the step sees it."""
        if isinstance(token, str):
            return token
        if "parameter" in token:
            return self.parameter(token["parameter"])  # type: ignore[typeddict-item]
        for kind in ("input", "output"):
            if kind in token:
                name = token[kind]  # type: ignore[literal-required]
                return f"<{kind} {name}>" if self.data is None else str(self.data[name])
        return str(token["value"])  # type: ignore[typeddict-item]

    def texts(self, tokens: list[Token]) -> list[str]:
        return [self.text(token) for token in tokens]

    def mapping(self, tokens: Mapping[str, Token]) -> dict[str, str]:
        return {name: self.text(token) for name, token in tokens.items()}

    def parameter(self, name: str) -> str:
        """A pipeline parameter's value for this run, as text."""
        from airflow.sdk.exceptions import AirflowException

        try:
            value = self.params[name]
        except KeyError:
            raise AirflowException(
                f"step {self.step_name!r}: pipeline parameter {name!r} has no value in this run"
            ) from None
        text = str(value)
        if self.one_line and "\n" in text:
            raise AirflowException(
                f"step {self.step_name!r}: pipeline parameter {name!r} is multi-line, which is not supported"
            )
        return text

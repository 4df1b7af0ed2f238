"""Authoring module of the example kind: `GreetStep` writes a greeting to its one output.

A definition only: it checks its arguments and says, as plain values, what its operator needs.
The registry line at the bottom is the third and last part of the kind.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mlpipe import PipelineData, PipelineParameter
from airflow_provider_mlpipe.authoring.steps import PipelineStep, encode_token
from airflow_provider_mlpipe.step_kinds import register_step_kind


class GreetStep(PipelineStep):
    """Greet `whom` (a literal or a `PipelineParameter`); the greeting is the step's one output."""

    kind = "GreetStep"

    def __init__(self, name: str, whom: Any, outputs: list[PipelineData] | None = None) -> None:
        super().__init__(name, outputs=outputs)
        if len(self.outputs) > 1:
            raise ValueError(f"step {name!r}: a GreetStep writes one output, got {len(self.outputs)}")
        self.whom = whom

    def parameters(self) -> list[PipelineParameter]:
        return [self.whom] if isinstance(self.whom, PipelineParameter) else []

    def operator_kwargs(
        self, source_directory: Any, script_path: Any, arguments: list[Any]
    ) -> dict[str, Any]:
        return {"whom": encode_token(self.whom)}


register_step_kind(f"{__name__}.GreetStep", "tests.example_kind.greet_operator.GreetStepOperator")

"""Operator module of the example kind: its arguments, its reuse key parts and its run.

Everything else (inputs, the reuse decision, hand-on, publishing, recording) is the base's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_mlpipe.operators.base import REQUIRED, PipelineStepOperator


class GreetStepOperator(PipelineStepOperator):
    """Write "Hello, <whom>!" to `greeting.txt` in the step's output."""

    step_kind = "GreetStep"
    kind_arguments: ClassVar[dict[str, Any]] = {"whom": REQUIRED}
    template_fields: Sequence[str] = ()

    def whom_now(self, context: Any) -> str:
        from airflow_provider_mlpipe.tokens import Binding

        return Binding(self.step_name, context.get("params") or {}).text(self.whom)

    def key_components(self, data: Any, locations: list[Any], context: Any) -> list[Any]:
        from airflow_provider_mlpipe.runtime.reuse_key import value_component

        return [value_component("whom", self.whom_now(context))]

    def run(self, context: Any, data: Any, locations: list[Any]) -> Any:
        from airflow_provider_mlpipe.operators.outcome import StepOutcome

        whom = self.whom_now(context)
        folder = {}
        for spec in self.outputs:
            folder[spec["name"]] = data.output_folder(spec)
            (folder[spec["name"]] / "greeting.txt").write_text(f"Hello, {whom}!\n")
        self.log.info("Step %r: greeted %s", self.step_name, whom)
        return StepOutcome({"greeted": whom}, local_outputs=folder)

"""`DataTransferStepOperator`: copies data between two datastores (v1's `DataTransferStep`).

Blob to Blob on one account is copied server-side (no bytes through the worker); across
accounts it is streamed; local folders and Blob are moved with concurrent uploads and
downloads. The step is reused while its source holds the same data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.operators.base import PipelineStepOperator

#: Bump when the same inputs would make this operator produce different outputs (it resets reuse).
SEMANTICS_VERSION = 1


class DataTransferStepOperator(PipelineStepOperator):
    """Copy the step's one input to its destination and hand the destination on as its output.

    Nothing is templated: v1's DataTransferStep has no parameters, and its source and destination
    are data whose identity the reuse key follows (other data per run: a DataPath parameter).
    """

    template_fields: Sequence[str] = ()
    ui_color = "#dcfce7"

    def __init__(self, *, transfer_spec: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transfer_spec = transfer_spec

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        self.stop_if_run_failed(context)
        from airflow_provider_mlpipe.hooks.reuse_cache import ReuseKey
        from airflow_provider_mlpipe.runtime.reuse_key import value_component
        from airflow_provider_mlpipe.runtime.step_data import StepData, StepDataError
        from airflow_provider_mlpipe.runtime.transfer import copy_data

        ti = context["ti"]
        data = StepData(self.step_name, Path(tempfile.gettempdir()), self.log)
        try:
            [source] = self.locate_inputs(data, context)
            [output] = self.outputs
            spec = self.transfer_spec
            components = [
                value_component("step", {"kind": "DataTransferStep", "semantics": SEMANTICS_VERSION}),
                value_component("transfer", spec),
            ]
            key = ReuseKey(tuple(components + self.data_components(data, [source])))
            cache, decision = self.decide(data, key, context)
            if decision.hit:
                return self.hand_on(ti, key, decision.entry)  # type: ignore[arg-type]
            source_client = data.client(source.datastore)
            destination = spec.get("destination")
            if destination:
                target = (data.client(destination.get("datastore")), destination["path_on_datastore"])
            else:
                target = data.output_location(output, ti.dag_id, ti.run_id, ti.task_id)
            kind = self._kind(source_client, source.path, *target)
            self.log.info(
                "Step %r: copying %s %s to %s",
                self.step_name,
                kind,
                source_client.uri(source.path),
                target[0].uri(target[1]),
            )
            result = copy_data(source_client, source.path, target[0], target[1], kind)
            self.log.info(
                "Step %r: %s file(s), %s bytes, %s", self.step_name, result.files, result.bytes, result.method
            )
            record = data.written_output(output, ti.dag_id, ti.run_id, ti.task_id, at=target)
        except StepDataError as error:
            raise AirflowException(str(error)) from error
        run_record = {"transfer": {"method": result.method, "files": result.files, "bytes": result.bytes}}
        return self.record(
            ti, cache, key, {output["name"]: record}, run_record, decision.reason, stale=decision.stale
        )

    def _kind(self, source: Any, source_path: str, destination: Any, destination_path: str) -> str:
        """v1 rules: the source type as it is; the destination: as given, as it exists, else as the source."""
        source_type = self.transfer_spec.get("source_type")
        if source_type is None:
            source_type = "directory" if source.is_directory(source_path) else "file"
        destination_type = self.transfer_spec.get("destination_type")
        if destination_type is None and destination.exists(destination_path):
            destination_type = "directory" if destination.is_directory(destination_path) else "file"
        destination_type = destination_type or source_type
        if source_type != destination_type:
            raise AirflowException(
                f"step {self.step_name!r}: cannot copy a {source_type} to a {destination_type} "
                f"({source.uri(source_path)} -> {destination.uri(destination_path)})"
            )
        return source_type

"""`DataTransferStepOperator`: copies data between two datastores (v1's `DataTransferStep`).

Blob to Blob on one account is copied server-side (no bytes through the worker); across
accounts it is streamed; local folders and Blob are moved with concurrent uploads and
downloads. The step is reused while its source holds the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_mlpipe.operators.base import REQUIRED, PipelineStepOperator

if TYPE_CHECKING:
    from airflow_provider_mlpipe.hooks.datastore import DatastoreClient
    from airflow_provider_mlpipe.operators.outcome import StepOutcome
    from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent
    from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation


class DataTransferStepOperator(PipelineStepOperator):
    """Copy the step's one input to its destination and hand the destination on as its output.

    Nothing is templated: v1's DataTransferStep has no parameters, and its source and destination
    are data whose identity the reuse key follows (other data per run: a DataPath parameter).
    `transfer_spec`: see `DataTransferStep.transfer_spec`.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#dcfce7"
    step_kind = "DataTransferStep"
    kind_arguments: ClassVar[dict[str, Any]] = {"transfer_spec": REQUIRED}

    def key_components(
        self, data: AttemptData, locations: list[InputLocation], context: Any
    ) -> list[KeyComponent]:
        """The copy's settings (types, destination); the source's data comes from the base."""
        from airflow_provider_mlpipe.runtime.reuse_key import value_component

        return [value_component("transfer", self.transfer_spec)]

    def run(self, context: Any, data: AttemptData, locations: list[InputLocation]) -> StepOutcome:
        from airflow_provider_mlpipe.operators.outcome import StepOutcome
        from airflow_provider_mlpipe.runtime.transfer import copy_data

        ti = context["ti"]
        [source] = locations
        [output] = self.outputs
        source_client = data.client(source.datastore)
        destination = self.transfer_spec.get("destination")
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
        run_record = {"transfer": {"method": result.method, "files": result.files, "bytes": result.bytes}}
        return StepOutcome(run_record, written_at={output["name"]: target})

    def _kind(
        self, source: DatastoreClient, source_path: str, destination: DatastoreClient, destination_path: str
    ) -> str:
        """v1 rules: the source type as it is; the destination: as given, as it exists, else as the source."""
        from airflow_provider_mlpipe.exceptions import StepDataError

        source_type = self.transfer_spec.get("source_type")
        if source_type is None:
            source_type = "directory" if source.is_directory(source_path) else "file"
        destination_type = self.transfer_spec.get("destination_type")
        if destination_type is None and destination.exists(destination_path):
            destination_type = "directory" if destination.is_directory(destination_path) else "file"
        destination_type = destination_type or source_type
        if source_type != destination_type:
            raise StepDataError(
                f"step {self.step_name!r}: cannot copy a {source_type} to a {destination_type} "
                f"({source.uri(source_path)} -> {destination.uri(destination_path)})"
            )
        return source_type

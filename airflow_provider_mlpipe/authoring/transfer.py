"""`DataTransferStep`: copy a file or a folder from one datastore to another; v1's names and checks.

A plain object (no Airflow or Azure imports). v1 ran the copy on an Azure Data Factory compute;
here it runs on an Airflow worker, server-side where the storage allows it (see
`airflow_provider_mlpipe.runtime.transfer`).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from airflow_provider_mlpipe.authoring.data import PipelineData, PipelineDataInput
from airflow_provider_mlpipe.authoring.datastore import DataReference
from airflow_provider_mlpipe.authoring.steps import PipelineStep, data_of

REFERENCE_TYPES = ("file", "directory")
_NOT_WORD = re.compile(r"\W", re.ASCII)


def _reference_type(where: str, argument: str, value: Any) -> str | None:
    """v1's check: 'file' or 'directory' in any case, kept lower-case; None = decided at run time."""
    if value is None:
        return None
    possible = ", ".join(REFERENCE_TYPES)
    if not isinstance(value, str):
        raise ValueError(f"{where}: {argument} must be a string. Possible values include: {possible}.")
    if value.lower() not in REFERENCE_TYPES:
        raise ValueError(
            f"{where}: Unknown value provided for {argument}. Possible values include: {possible}."
        )
    return value.lower()


def _overlapping(a: str, b: str) -> bool:
    a, b = a.strip("/"), b.strip("/")
    return a == b or not a or not b or a.startswith(b + "/") or b.startswith(a + "/")


class DataTransferStep(PipelineStep):
    """Copy data between datastores; v1's `DataTransferStep`.

    `source_data_reference`: a `DataReference`, a `PipelineData` written by another step, or
    one of its inputs (`PipelineData.as_input(...)` / `as_mount()` / `as_download()`).
    `destination_data_reference`: a `PipelineData` (lands at the run's output path, as any step
    output) or a `DataReference`. With a DataReference the data lands at its fixed path on its
    datastore, replacing what was there; the step's output is then an internal PipelineData
    named `<step name as a word>_output` on the same datastore, whose XCom record points at
    that fixed path, so `get_output()` chains a later step on the copy either way.

    `source_reference_type` / `destination_reference_type`: 'file' or 'directory' (any case).
    When not given they are decided at run time: the source is what its path holds; the
    destination is what its existing path holds, else the source's type, else a directory.
    They tell a file and a folder of the same name apart.

    `compute_target` (v1: a Data Factory compute) is accepted and ignored with a warning: the
    copy runs on an Airflow worker.
    """

    kind = "DataTransferStep"

    def __init__(
        self,
        name: str,
        source_data_reference: DataReference | PipelineData | PipelineDataInput | None = None,
        destination_data_reference: DataReference | PipelineData | None = None,
        compute_target: Any = None,
        source_reference_type: str | None = None,
        destination_reference_type: str | None = None,
        allow_reuse: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{self.kind}: name must be a non-empty string, got {name!r}")
        where = f"DataTransferStep {name!r}"
        source, destination = source_data_reference, destination_data_reference
        if source is None:
            raise ValueError(f"{where}: source_data_reference is required")
        if destination is None:
            raise ValueError(f"{where}: destination_data_reference is required")
        if data_of(source) is None:
            raise TypeError(
                f"{where}: source_data_reference must be a DataReference, a PipelineData or a "
                f"PipelineData input, got {source!r}"
            )
        if isinstance(destination, PipelineDataInput):
            raise TypeError(
                f"{where}: destination_data_reference is written, not read: pass the PipelineData "
                f"{destination.data.name!r} itself, not an input made from it"
            )
        if not isinstance(destination, DataReference | PipelineData):
            raise TypeError(
                f"{where}: destination_data_reference must be a DataReference or a PipelineData, "
                f"got {destination!r}"
            )
        if data_of(source) is destination:
            raise ValueError(f"{where}: the source and the destination are the same {destination!r}")
        self.source_reference_type = _reference_type(where, "source_reference_type", source_reference_type)
        self.destination_reference_type = _reference_type(
            where, "destination_reference_type", destination_reference_type
        )

        self.source = source
        self.destination = destination
        #: The destination when it is a DataReference (data lands at its fixed path), else None.
        self.destination_reference: DataReference | None = None
        if isinstance(destination, DataReference):
            if not destination.path_on_datastore.strip("/"):
                raise ValueError(
                    f"{where}: destination DataReference {destination.name!r} needs a "
                    "path_on_datastore; the whole datastore is never replaced"
                )
            source_data = data_of(source)
            if (
                isinstance(source_data, DataReference)
                and source_data.datastore == destination.datastore
                and _overlapping(source_data.path_on_datastore, destination.path_on_datastore)
            ):
                raise ValueError(
                    f"{where}: source {source_data.path_on_datastore!r} and destination "
                    f"{destination.path_on_datastore!r} overlap on datastore {destination.datastore.label!r} "
                    "(the destination is replaced)"
                )
            self.destination_reference = destination
            output = PipelineData(
                f"{_NOT_WORD.sub('_', name.strip())}_output", datastore=destination.datastore
            )
        else:
            output = destination
        self._output = output

        if compute_target is not None:
            warnings.warn(
                f"step {name!r}: compute_target is ignored by DataTransferStep (v1 used a Data Factory "
                "compute); the copy runs on an Airflow worker",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(name, [source], [output], None, None, allow_reuse)
        self.compute_target = None

    def get_output(self) -> PipelineData:
        """The copy as a PipelineData, to use as a later step's input (that step then runs after this one)."""
        return self._output

    def operator_kwargs(
        self, source_directory: Path | None, script_path: Path | None, arguments: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {"transfer_spec": self.transfer_spec()}

    def transfer_spec(self) -> dict[str, Any]:
        """The copy in plain JSON-able values, for the operator.

        `{"source_type", "destination_type", "destination"}`: the types are 'file',
        'directory' or None (decided at run time); `destination` is `{"datastore",
        "path_on_datastore"}` for a DataReference (datastore None = the default), or None when
        the data goes to the output's run path.
        """
        reference = self.destination_reference
        return {
            "source_type": self.source_reference_type,
            "destination_type": self.destination_reference_type,
            "destination": None
            if reference is None
            else {
                "datastore": reference.datastore.given_name,
                "path_on_datastore": reference.path_on_datastore,
            },
        }

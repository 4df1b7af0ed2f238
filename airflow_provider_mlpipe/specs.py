"""The plain dicts that travel between the graph, the operators and XCom, as typed dicts.

For type checkers and readers: modules import them under `TYPE_CHECKING` (a TypedDict costs
~0.1 ms to define, paid by every DAG file parse). At run time they are plain dicts.
"""

from __future__ import annotations

from typing import Any, TypedDict


class InputSpec(TypedDict, total=False):
    """One input of a step: produced by another step (via XCom), read from a datastore, or
    bound per run by a DataPath parameter (`data_path_parameter`: the run's param names it).

    Plain dicts (not objects) because they go unchanged into operator arguments.
    """

    name: str
    mode: str
    producer: str  # producing step's name, for PipelineData
    output_name: str
    producer_task_id: str  # set by the translation, which knows task group prefixes
    datastore: str | None  # connection id; None = the default datastore
    path_on_datastore: str
    data_path_parameter: str  # DataPath PipelineParameter's name


class OutputSpec(TypedDict):
    """One output of a step: which datastore it goes to."""

    name: str
    datastore: str | None
    is_directory: bool | None
    mode: str


class OutputRecord(TypedDict, total=False):
    """One published output as consumers read it from the producer's XCom (and the reuse index)."""

    output_name: str
    datastore: str
    datastore_kind: str  # "local" or "blob"
    path_on_datastore: str
    uri: str
    is_directory: bool
    identity: str  # digest of the data, what a consumer's reuse key follows
    producer: dict[str, str]  # dag_id, run_id, task_id of the run that wrote it
    reuse_key: str
    reused_from: dict[str, Any]  # on a HIT: the run whose outputs these are

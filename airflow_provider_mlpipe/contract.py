"""The names other components and users rely on: XCom keys, DAG tags, run-conf keys.

Each is defined here once; the REST API, the monitoring page, the client and the operators
import them from here. Plain constants, so any layer may import this module at no cost.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

# -- DAG tags ----------------------------------------------------------------------------------
#: Every DAG built from a pipeline (what the monitoring page lists).
PIPELINE_TAG = "mlpipe"
#: A published pipeline (what the `/mlpipe` REST API serves).
PUBLISHED_TAG = "mlpipe:published"
#: Followed by a published pipeline's version.
VERSION_TAG_PREFIX = "mlpipe:version:"
#: The dispatcher DAG of a datastore schedule.
DATASTORE_SCHEDULE_TAG = "mlpipe:datastore-schedule"

# -- run conf and DAG params -------------------------------------------------------------------
#: Run conf key of what a REST or client submission recorded (experiment, description, tags).
RUN_RECORD_KEY = "mlpipe"
#: Run conf key and DAG param that make a run reuse nothing (v1's `regenerate_outputs`).
REGENERATE_OUTPUTS = "regenerate_outputs"
#: Run conf key and param of a published pipeline: False starts no step after a failed one.
CONTINUE_ON_STEP_FAILURE = "continue_on_step_failure"

# -- XCom keys of a step task ------------------------------------------------------------------
#: The step's output records (Airflow's return value).
OUTPUTS_XCOM_KEY = "return_value"
#: The step's reuse decision (HIT with its source, or MISS with its reason).
REUSE_XCOM_KEY = "mlpipe_reuse"
#: What the step's script logged with `Run.get_context().log(...)`
#: (`{name: value | [values] | {column: [values]}}`), always pushed.
METRICS_XCOM_KEY = "mlpipe_metrics"


# -- what operators are given and hand on -----------------------------------------------------
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


# -- shared patterns ---------------------------------------------------------------------------
#: An Airflow connection id (the name of a datastore, a Databricks workspace...); `fullmatch` it.
CONNECTION_ID = re.compile(r"[\w.-]+")

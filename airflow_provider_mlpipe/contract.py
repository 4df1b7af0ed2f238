"""The names other components and users rely on: XCom keys, DAG tags, run-conf keys.

Each is defined here once; the REST API, the monitoring page, the client and the operators
import them from here. Plain constants, so any layer may import this module at no cost.
"""

from __future__ import annotations

import re

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


# -- shared patterns ---------------------------------------------------------------------------
#: An Airflow connection id (the name of a datastore, a Databricks workspace...); `fullmatch` it.
CONNECTION_ID = re.compile(r"[\w.-]+")

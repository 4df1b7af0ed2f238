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
#: The DAG of a `Schedule` made from a notebook or the REST API (`schedule_dags`).
SCHEDULE_TAG = "mlpipe:schedule"
#: Followed by the schedule's id: the id of that DAG.
SCHEDULE_DAG_PREFIX = "mlpipe_schedule__"
#: Followed by the schedule's id and "__": the id of every pipeline run the schedule submits.
SCHEDULE_RUN_PREFIX = "mlpipe_schedule__"

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
#: What else the step's script recorded through its run context (`run_context.run_summary`):
#: `{"tags", "images", "files", "parent": {"metrics", "tags"}}`, with where it was stored
#: (`"datastore"`, `"folder"`); pushed by steps that run a script.
RUN_EXTRAS_XCOM_KEY = "mlpipe_run_extras"


# -- Airflow Variables ------------------------------------------------------------------------
#: The default datastore chosen by `Workspace.set_default_datastore` (wins over
#: `[mlpipe] default_datastore`).
DEFAULT_DATASTORE_VARIABLE = "mlpipe_default_datastore"
#: Every `Schedule` as the schedule DAGs are built from it (JSON, written by `schedules_db`).
SCHEDULES_VARIABLE = "mlpipe_schedules"


# -- shared patterns ---------------------------------------------------------------------------
#: An Airflow connection id (the name of a datastore, a Databricks workspace...); `fullmatch` it.
CONNECTION_ID = re.compile(r"[\w.-]+")

"""The DAGs of the schedules made with `Schedule.create` (a notebook, or `POST /mlpipe/schedules`).

Copy this file into the DAG folder once: each schedule then becomes the DAG
`mlpipe_schedule__<schedule id>` (see `airflow_provider_mlpipe.schedule_dags`), with no DAG file
to write per schedule.
"""

from airflow_provider_mlpipe.schedule_dags import schedule_dags

globals().update(schedule_dags())

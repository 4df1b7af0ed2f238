"""`make demo`: run the example pipeline end to end on the embedded default datastore.

Uses the repository's local Airflow (`.airflow/`, SQLite: the home of `make ui`, see
`local_airflow.py`), puts the input data on the default
datastore, runs the DAG with Airflow's in-process runner (`dag.test()`), then prints the
run's state, where each step's outputs are and the metrics its script logged.
`DEMO_CONF='{"pipeline_arg": 20}'` sets the run's conf.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_FILE = REPO / "dags" / "mlpipe_compare_models.py"
DAG_ID = "mlpipe_compare_models"


def configure_airflow() -> None:
    """The local Airflow's settings (`make demo` sets them already; this covers a direct run)."""
    from local_airflow import environment

    for key, value in environment().items():
        os.environ.setdefault(key, value)


def migrate_db() -> None:
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")


def run_example(conf: dict | None):
    runpy.run_path(str(REPO / "dags" / "compare_models" / "prepare_data.py"))["main"]()
    dag = runpy.run_path(str(DAG_FILE))["dag"]
    return dag.test(run_conf=conf)


def task_xcom(session, dag_run, task_id: str, key: str = "return_value") -> dict:
    """One XCom value of a step task (its output records by default), empty if there is none."""
    from airflow.models.xcom import XComModel

    query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
    row = session.scalars(query).first()
    return XComModel.deserialize_value(row) if row is not None else {}


def reuse_text(decision: dict) -> str:
    """How a step's reuse decision reads in the summary."""
    if decision.get("decision") == "hit":
        return f"reused outputs of run {decision['source']['run_id']}"
    if decision.get("decision") == "miss":
        return f"ran ({decision['reason']})"
    return "did not run"


def summarize(dag_run) -> int:
    """Print the run's state, each step's state, outputs and metrics; 0 when the run succeeded."""
    from airflow.utils.session import create_session

    lines = [f"DAG {dag_run.dag_id}, run {dag_run.run_id}: {dag_run.state}"]
    with create_session() as session:
        for ti in sorted(dag_run.get_task_instances(session=session), key=lambda t: t.start_date or 0):
            decision = task_xcom(session, dag_run, ti.task_id, "mlpipe_reuse")
            lines.append(f"  step {ti.task_id}: {ti.state}, {reuse_text(decision)}")
            for name, record in task_xcom(session, dag_run, ti.task_id).items():
                lines.append(f"    output {name}: {record['uri']}")
            for name, value in task_xcom(session, dag_run, ti.task_id, "mlpipe_metrics").items():
                lines.append(f"    metric {name}: {json.dumps(value)}")
        comparison = task_xcom(session, dag_run, "compare").get("out_data3")
    if comparison and comparison["uri"].startswith("file://"):
        report = json.loads((Path(comparison["uri"].removeprefix("file://")) / "report.json").read_text())
        best = report["best_model"]
        lines.append(
            f"  best model: {best} (accuracy {report['metrics'][best]['accuracy']}, "
            f"bootstrap rounds = pipeline_arg = {report['bootstrap_rounds']})"
        )
    print("\n" + "=" * 78 + "\n" + "\n".join(lines) + "\n" + "=" * 78)
    return 0 if str(dag_run.state) == "success" else 1


def main() -> int:
    configure_airflow()
    migrate_db()
    conf = json.loads(os.environ["DEMO_CONF"]) if os.environ.get("DEMO_CONF") else None
    return summarize(run_example(conf))


if __name__ == "__main__":
    sys.exit(main())

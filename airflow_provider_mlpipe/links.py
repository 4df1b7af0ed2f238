"""Operator extra links: from a task in the Airflow UI to where its work really happened."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink


def task_instance_url(dag_id: str, run_id: str, task_id: str) -> str:
    """The Airflow 3 UI page of one task instance (absolute when `[api] base_url` is set)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return (
        f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    )


class ReusedFromLink(BaseOperatorLink):
    """'Reused from': the task instance whose outputs a reused step handed on."""

    name = "Reused from"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Airflow 3 evaluates links in the task when it ends and stores them: the operator knows.
        decision = getattr(operator, "reuse_decision", None)
        if not isinstance(decision, dict) or decision.get("decision") != "hit":
            return ""
        source = decision["source"]
        return task_instance_url(source["dag_id"], source["run_id"], source["task_id"])


#: XCom keys under which a Databricks step stores its run, before it waits for it.
DATABRICKS_RUN_ID_KEY = "databricks_run_id"
DATABRICKS_RUN_PAGE_URL_KEY = "databricks_run_page_url"


class DatabricksRunLink(BaseOperatorLink):
    """'Databricks run': the run's page in the Databricks workspace."""

    name = "Databricks run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return getattr(operator, "run_page_url", None) or ""


#: XCom keys under which an ADLA step stores its job, before it waits for it.
ADLA_JOB_ID_KEY = "adla_job_id"
ADLA_JOB_URL_KEY = "adla_job_url"


class AdlaJobLink(BaseOperatorLink):
    """'ADLA job': the U-SQL job in the Azure portal."""

    name = "ADLA job"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return getattr(operator, "job_url", None) or ""

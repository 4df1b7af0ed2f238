"""The provider's Airflow plugin: mounts the `/mlpipe` REST API inside `airflow api-server`."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_mlpipe.api.app import create_app


class MlpipePlugin(AirflowPlugin):
    """v1's published-pipeline REST endpoints under /mlpipe (FastAPI app, Airflow's auth)."""

    name = "mlpipe"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/mlpipe", "name": "mlpipe published pipelines"}]

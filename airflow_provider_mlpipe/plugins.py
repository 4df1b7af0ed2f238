"""The provider's Airflow plugin: the `/mlpipe` app inside `airflow api-server` and its UI page."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_mlpipe.api.app import create_app
from airflow_provider_mlpipe.api.monitor import external_view


class MlpipePlugin(AirflowPlugin):
    """v1's published-pipeline REST endpoints under /mlpipe, and the "ML pipelines" monitoring page.

    The page is an Airflow 3 external view: the UI lists it in its navigation and shows it in
    an iframe; its data comes from the same FastAPI app, under Airflow's auth.
    """

    name = "mlpipe"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/mlpipe", "name": "mlpipe published pipelines"}]
    external_views = [external_view()]

"""Provider metadata read by Airflow through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    from airflow_provider_mlpipe import __version__

    return {
        "package-name": "airflow-provider-mlpipe",
        "name": "mlpipe",
        "description": "Run Azure ML SDK v1 pipelines (PythonScriptStep, PipelineData, ...) as Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "mlpipe",
                "external-doc-url": "https://pypi.org/project/airflow-provider-mlpipe/",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "mlpipe",
                "python-modules": ["airflow_provider_mlpipe.operators.python_script"],
            }
        ],
        "hooks": [
            {
                "integration-name": "mlpipe",
                "python-modules": [
                    "airflow_provider_mlpipe.hooks.local_folder",
                    "airflow_provider_mlpipe.hooks.blob_datastore",
                ],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_mlpipe.hooks.local_folder.LocalFolderDatastoreHook",
                "connection-type": "mlpipe_local",
            }
        ],
        "config": {
            "mlpipe": {
                "description": "Settings of the mlpipe provider (Azure ML v1 pipelines on Airflow).",
                "options": {
                    "default_datastore": {
                        "description": (
                            "Connection id of the datastore used when a pipeline names none. Empty: "
                            "the connection 'mlpipe_default' if it exists, else the embedded local folder."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "my_blob_datastore",
                        "default": "",
                    },
                    "embedded_root": {
                        "description": (
                            "Folder of the embedded local datastore. Empty: $AIRFLOW_HOME/mlpipe_datastore."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/data/mlpipe",
                        "default": "",
                    },
                },
            }
        },
    }

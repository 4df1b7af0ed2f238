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
                "python-modules": [
                    "airflow_provider_mlpipe.operators.python_script",
                    "airflow_provider_mlpipe.operators.databricks",
                    "airflow_provider_mlpipe.operators.adla",
                    "airflow_provider_mlpipe.operators.data_transfer",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": "mlpipe",
                "python-modules": [
                    "airflow_provider_mlpipe.hooks.local_folder",
                    "airflow_provider_mlpipe.hooks.blob_datastore",
                    "airflow_provider_mlpipe.hooks.reuse_cache",
                    "airflow_provider_mlpipe.hooks.databricks",
                    "airflow_provider_mlpipe.hooks.adla",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "mlpipe",
                "python-modules": [
                    "airflow_provider_mlpipe.triggers.databricks",
                    "airflow_provider_mlpipe.triggers.adla",
                    "airflow_provider_mlpipe.triggers.datastore_watch",
                ],
            }
        ],
        "extra-links": [
            "airflow_provider_mlpipe.links.ReusedFromLink",
            "airflow_provider_mlpipe.links.DatabricksRunLink",
            "airflow_provider_mlpipe.links.AdlaJobLink",
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_mlpipe.hooks.local_folder.LocalFolderDatastoreHook",
                "connection-type": "mlpipe_local",
            },
            {
                "hook-class-name": "airflow_provider_mlpipe.hooks.adla.AdlaHook",
                "connection-type": "mlpipe_adla",
            },
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
                    "reuse_datastore": {
                        "description": (
                            "Connection id of the datastore that holds the shared reuse index. Empty: "
                            "the datastore of each step's outputs."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "my_blob_datastore",
                        "default": "",
                    },
                    "hash_cache": {
                        "description": (
                            "SQLite file caching content digests of local files by size, mtime, ctime "
                            "and inode, so unchanged files are not read again. Empty: "
                            "$AIRFLOW_HOME/mlpipe_cache/file_hashes.sqlite."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/var/cache/mlpipe/file_hashes.sqlite",
                        "default": "",
                    },
                    "snapshot_max_mb": {
                        "description": "A source_directory over this size (MB) fails its step. 0: no limit.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "300",
                        "default": "300",
                    },
                    "snapshot_max_files": {
                        "description": "A source_directory with more files fails its step. 0: no limit.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "2000",
                        "default": "2000",
                    },
                    "databricks_poll_seconds": {
                        "description": "Seconds between two polls of a Databricks run.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "10",
                    },
                    "adla_poll_seconds": {
                        "description": "Seconds between two polls of an ADLA job.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "10",
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

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
                    "airflow_provider_mlpipe.hooks.blob_connection",
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
        # The "Add connection" forms (read by Airflow >= 3.2 from here; earlier versions ask the
        # hooks' get_ui_field_behaviour, which returns the same declaration).
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_mlpipe.hooks.local_folder.LocalFolderDatastoreHook",
                "hook-name": "mlpipe local folder datastore",
                "connection-type": "mlpipe_local",
                "conn-fields": {
                    "root": {
                        "label": "Root folder",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Absolute path of the folder that holds this datastore's files, e.g. "
                            "/data/mlpipe. Every worker must see it at this path (one machine's disk, "
                            "or a shared mount). Missing folders are created on the first write."
                        ),
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port"],
                    "relabeling": {},
                    "placeholders": {},
                },
            },
            {
                "hook-class-name": "airflow_provider_mlpipe.hooks.adla.AdlaHook",
                "hook-name": "mlpipe Azure Data Lake Analytics",
                "connection-type": "mlpipe_adla",
                "conn-fields": {
                    "tenant_id": {
                        "label": "Tenant ID",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Microsoft Entra tenant of the service principal given as Client ID and "
                            "Client secret. Leave all three empty to sign in with azure-identity's "
                            "DefaultAzureCredential (managed identity, workload identity, Azure CLI)."
                        ),
                    },
                    "access_token": {
                        "label": "Access token",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": (
                            "A bearer token for https://datalake.azure.net issued elsewhere (e.g. by a CI "
                            "job), used instead of a service principal. It is not refreshed."
                        ),
                    },
                    "adla_job_dns_suffix": {
                        "label": "Job endpoint DNS suffix",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Empty: azuredatalakeanalytics.net (Azure public cloud). The job API is "
                            "called at https://<account name>.<suffix>."
                        ),
                    },
                    "base_url": {
                        "label": "Job endpoint URL (tests)",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Leave empty for Azure. For a local stand-in of the job API: its URL; the "
                            "jobs are then called at <URL>/<account name>/jobs."
                        ),
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Account name", "login": "Client ID", "password": "Client secret"},
                    "placeholders": {
                        "host": "ADLA account name, e.g. myadlaaccount",
                        "login": "Application (client) ID of a service principal",
                        "password": "Client secret of that service principal",
                    },
                },
            },
            # A Blob datastore's own type: the Azure provider's wasb form (its fields, labels and
            # placeholders, read from that provider) plus the datastore's container and root, and a
            # Test button that checks the container. Plain `wasb` connections work as datastores too;
            # their form and Test button stay the Azure provider's (no takeover of another's type).
            {
                "hook-class-name": "airflow_provider_mlpipe.hooks.blob_connection.BlobDatastoreHook",
                "hook-name": "mlpipe Azure Blob datastore",
                "connection-type": "mlpipe_blob",
                **_blob_form(),
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
                    "default_container": {
                        "description": (
                            "Container of a Blob datastore whose wasb connection names none in its extra "
                            "('container'). Empty: such a connection is refused with a message saying so."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "mlpipe",
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


#: The fields a Blob datastore adds to the Azure provider's wasb form.
_BLOB_DATASTORE_FIELDS = {
    "container": {
        "label": "Container",
        "description": "Blob container of the datastore (empty: [mlpipe] default_container).",
        "schema": {"type": ["string", "null"]},
    },
    "root": {
        "label": "Root prefix",
        "description": "Optional folder inside the container under which every path of the datastore lies.",
        "schema": {"type": ["string", "null"]},
    },
}


def _blob_form() -> dict[str, Any]:
    """`conn-fields` and `ui-field-behaviour` of `mlpipe_blob`: the Azure provider's wasb form + ours.

    Read from the installed Azure provider, so its auth fields are never copied here and follow
    its upgrades; without it (or with an older one that declares no form) only ours are offered.
    """
    try:
        from airflow.providers.microsoft.azure.get_provider_info import get_provider_info as azure_info
    except ImportError:
        wasb: dict[str, Any] = {}
    else:
        declared = [c for c in azure_info().get("connection-types", []) if c["connection-type"] == "wasb"]
        wasb = declared[0] if declared else {}
    behaviour = wasb.get("ui-field-behaviour") or {
        "hidden-fields": ["schema", "port"],
        "relabeling": {},
        "placeholders": {},
    }
    return {
        "conn-fields": {**(wasb.get("conn-fields") or {}), **_BLOB_DATASTORE_FIELDS},
        "ui-field-behaviour": behaviour,
    }


def legacy_field_behaviour(connection_type: str) -> dict[str, Any]:
    """A connection type's form as `get_ui_field_behaviour()` returns it (Airflow < 3.2 asks hooks)."""
    [declared] = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == connection_type
    ]
    behaviour = declared["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }

"""`datastore_schedule`: v1's datastore-triggered `Schedule`, as an Airflow asset with a watcher.

v1::

    Schedule.create(ws, name="on-new-data", pipeline_id=..., experiment_name=...,
                    datastore=store, path_on_datastore="incoming", polling_interval=5,
                    data_path_parameter_name="input_path")

Here::

    pipeline.publish("on_new_data", schedule=[datastore_schedule(store, "incoming", polling_interval=5)])
    # or pipeline.to_dag("on_new_data", schedule=[datastore_schedule(...)])

The returned `airflow.sdk.Asset` carries an `AssetWatcher` running `DatastoreChangeTrigger` on the
triggerer: each new or changed file under the path is one asset event whose ``extra`` is
``{"from_trigger": True, "payload": {"datastore", "path_on_datastore", "identity", "change"}}``
(existing files when the watch first starts fire nothing, as in v1). A DAG scheduled on the asset
gets a run; its tasks find the file in ``context["triggering_asset_events"][asset][i].extra
["payload"]["path_on_datastore"]``.

v1's ``data_path_parameter_name``: with it, ``datastore_schedule`` returns a `DatastoreSchedule`
for ``Pipeline.publish(..., schedule=...)`` / ``to_dag``. The pipeline's DAG is then not scheduled
on the asset itself (Airflow folds events that arrive close together into one run and gives an
asset-triggered run no conf); a small dispatcher DAG ``<dag_id>__on_new_data`` is, and starts one
pipeline run per asset event with the DataPath parameter set to that file (see
`airflow_provider_mlpipe.operators.new_data_runs`)::

    on_new_data = datastore_schedule(
        store, "incoming", polling_interval=5, data_path_parameter_name="input_path"
    )
    pipeline.publish("on_new_data", schedule=on_new_data)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from airflow_provider_mlpipe.authoring.datastore import Datastore

#: URI scheme of the assets `datastore_schedule` returns.
URI_SCHEME = "mlpipe"
#: Suffix of the dispatcher DAG that starts one pipeline run per new or changed file.
DISPATCHER_SUFFIX = "__on_new_data"


@dataclass(frozen=True)
class DatastoreSchedule:
    """A datastore schedule that sets a DataPath parameter: one pipeline run per new or changed file.

    Given as ``schedule=`` to ``Pipeline.publish`` / ``Pipeline.to_dag``, which build the
    dispatcher DAG ``<dag_id>__on_new_data`` (scheduled on `asset`) beside the pipeline's DAG.
    """

    asset: Asset
    data_path_parameter_name: str


def dispatcher_dag_id(dag_id: str) -> str:
    """The id of the DAG that starts `dag_id`'s runs for a `DatastoreSchedule`."""
    return f"{dag_id}{DISPATCHER_SUFFIX}"


def datastore_schedule(
    datastore: Datastore,
    path_on_datastore: str | None = None,
    polling_interval: float = 5,
    name: str | None = None,
    data_path_parameter_name: str | None = None,
) -> Asset | DatastoreSchedule:
    """An asset updated once per new or changed file under `path_on_datastore` on `datastore`.

    :param datastore: the `Datastore` to watch (`Datastore.default()` is resolved on the triggerer).
    :param path_on_datastore: the folder (or single file) to watch; None or "" (the default) watches
        the whole datastore, as v1 does without a path, except the provider's own ``mlpipe/`` folder
        (step outputs, the reuse index), so a pipeline's outputs never start its runs.
    :param polling_interval: minutes between two listings, like v1 (default 5; fractions allowed).
    :param name: the asset's name; default its URI ``mlpipe://<datastore>/<path>``.
    :param data_path_parameter_name: v1's: the pipeline's DataPath `PipelineParameter` that each
        run gets set to its file. Then a `DatastoreSchedule` is returned (for ``publish`` /
        ``to_dag``), otherwise the plain `Asset` (for any DAG's ``schedule``).
    """
    from airflow.sdk import Asset, AssetWatcher

    from airflow_provider_mlpipe.authoring.datastore import Datastore
    from airflow_provider_mlpipe.triggers.datastore_watch import DatastoreChangeTrigger

    if not isinstance(datastore, Datastore):
        raise TypeError(f"datastore_schedule: datastore must be a Datastore, got {datastore!r}")
    if (
        not isinstance(polling_interval, int | float)
        or isinstance(polling_interval, bool)
        or not polling_interval > 0
    ):
        raise ValueError(
            f"datastore_schedule: polling_interval must be > 0 minutes, got {polling_interval!r}"
        )
    trigger = DatastoreChangeTrigger(
        datastore=datastore.given_name,
        path_on_datastore=path_on_datastore or "",
        poll_interval=float(polling_interval) * 60.0,
    )
    uri = f"{URI_SCHEME}://{datastore.label}/{trigger.path_on_datastore}"
    asset_name = name or uri
    asset = Asset(
        name=asset_name,
        uri=uri,
        watchers=[AssetWatcher(name=f"{asset_name} watcher", trigger=trigger)],
    )
    if data_path_parameter_name is None:
        return asset
    if not isinstance(data_path_parameter_name, str) or not data_path_parameter_name:
        raise ValueError(
            "datastore_schedule: data_path_parameter_name must be the name of a DataPath "
            f"PipelineParameter, got {data_path_parameter_name!r}"
        )
    return DatastoreSchedule(asset, data_path_parameter_name)

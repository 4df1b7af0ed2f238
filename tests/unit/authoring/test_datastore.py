"""`Datastore` as v1 has it: its name, `path`, `as_mount`, `as_download`; the default datastore
resolved only when its name is read, never while a DAG is built."""

from __future__ import annotations

import pytest

from airflow_provider_mlpipe import DataPath, DataReference, Datastore, PipelineData, PythonScriptStep
from airflow_provider_mlpipe.graph import build_graph


class RemoteWorkspace:
    """What `Datastore` asks of a remote workspace: whether it is local, and its default."""

    is_local = False

    def get_default_datastore(self) -> Datastore:
        return Datastore(self, "remote_default")


def test_name_is_never_none(monkeypatch):
    monkeypatch.delenv("AIRFLOW__MLPIPE__DEFAULT_DATASTORE", raising=False)
    assert Datastore("store").name == "store"
    assert Datastore(object(), "store").name == "store"
    assert Datastore.default().name == "mlpipe_default"
    assert Datastore(None).name == "mlpipe_default"
    assert Datastore.get_default(None).name == "mlpipe_default"
    assert Datastore.get(None, "store").name == "store"


def test_the_default_name_is_read_when_used_not_when_made(monkeypatch):
    monkeypatch.delenv("AIRFLOW__MLPIPE__DEFAULT_DATASTORE", raising=False)
    default = Datastore.default()
    monkeypatch.setenv("AIRFLOW__MLPIPE__DEFAULT_DATASTORE", "blobs")
    assert default.name == "blobs"
    assert default.is_default and default.given_name is None and default.label == "default"
    assert repr(default) == "Datastore.default()" and default == Datastore.get_default(None)
    assert Datastore("blobs") != default  # the default follows the setting where it is used


def test_a_remote_workspace_names_its_own_default():
    workspace = RemoteWorkspace()
    default = Datastore.get_default(workspace)
    assert default.workspace is workspace and default.is_default
    assert default.name == "remote_default"


def test_building_a_dag_graph_never_resolves_the_default(tmp_path, monkeypatch):
    def refuse() -> str:
        raise AssertionError("the default datastore was resolved while the DAG was built")

    monkeypatch.setattr("airflow_provider_mlpipe.storage_actions.default_datastore_name", refuse)
    (tmp_path / "s.py").write_text("print('hi')\n")
    step = PythonScriptStep(
        "s.py",
        name="s",
        source_directory=str(tmp_path),
        inputs=[Datastore.default().path("raw", data_reference_name="raw")],
        outputs=[PipelineData("out", datastore=Datastore.default()), PipelineData("other")],
    )
    graph, problems = build_graph([step], tmp_path, default_datastore=Datastore.default())
    assert problems == []
    [node] = graph.nodes
    assert [spec["datastore"] for spec in node.inputs] == [None]  # recorded as "the default"
    assert [spec["datastore"] for spec in node.outputs] == [None, None]
    assert DataPath(Datastore.default(), "p").as_value() == {"datastore": None, "path_on_datastore": "p"}


def test_path_takes_v1_arguments_in_v1_order():
    store = Datastore("store")
    reference = store.path("a/b", "named")
    assert isinstance(reference, DataReference)
    assert (reference.datastore, reference.path_on_datastore, reference.name) == (store, "a/b", "named")
    assert store.path(path="x", data_reference_name="y").path_on_datastore == "x"
    root = store.path()
    assert root.path_on_datastore == "" and root.name == "store" and root.mode == "mount"


def test_as_mount_and_as_download_reference_the_datastore_root():
    store = Datastore("store")
    mounted = store.as_mount()
    assert (mounted.datastore, mounted.path_on_datastore, mounted.mode) == (store, "", "mount")
    downloaded = store.as_download("/tmp/in")
    assert (downloaded.path_on_datastore, downloaded.mode, downloaded.path_on_compute) == (
        "",
        "download",
        "/tmp/in",
    )
    assert store.as_download().path_on_compute is None
    assert Datastore.default().as_mount().name == "default"  # no resolution


def test_invalid_names_are_refused():
    with pytest.raises(ValueError, match="not a valid Airflow connection id"):
        Datastore(None, "no spaces")

"""The local folder datastore, the embedded default, and v1's notebook-side Datastore methods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_mlpipe import Datastore
from airflow_provider_mlpipe.hooks.datastore import DatastoreError
from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastore
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore


@pytest.fixture
def folder_store(tmp_path, monkeypatch) -> Datastore:
    root = tmp_path / "store"
    monkeypatch.setenv(
        "AIRFLOW_CONN_FOLDER_STORE", json.dumps({"conn_type": "mlpipe_local", "extra": {"root": str(root)}})
    )
    return Datastore("folder_store")


def test_default_is_the_embedded_folder_under_airflow_home(embedded_datastore_root):
    client = Datastore.default().client()
    assert isinstance(client, LocalFolderDatastore)
    assert client.name == "mlpipe_default" and client.root == embedded_datastore_root.resolve()


def test_default_datastore_setting_names_another_connection(folder_store, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__MLPIPE__DEFAULT_DATASTORE", "folder_store")
    client = Datastore.default().client()
    assert client.name == "folder_store" and client.root == (tmp_path / "store").resolve()


def test_unknown_or_wrong_kind_of_connection_is_a_clear_error(monkeypatch):
    with pytest.raises(DatastoreError, match="datastore 'nowhere': no Airflow connection with that id"):
        resolve_datastore("nowhere")
    monkeypatch.setenv("AIRFLOW_CONN_PG", "postgresql://u:p@localhost/db")
    with pytest.raises(DatastoreError, match="connection type 'postgres' is not a datastore"):
        resolve_datastore("pg")
    monkeypatch.setenv("AIRFLOW_CONN_NOROOT", json.dumps({"conn_type": "mlpipe_local"}))
    with pytest.raises(DatastoreError, match='needs extra {"root"'):
        resolve_datastore("noroot")


def test_upload_files_upload_and_download_like_v1(folder_store, tmp_path):
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    (data / "20news.pkl").write_bytes(b"pickle")
    (data / "nested" / "part.csv").write_text("a,b\n")

    reference = folder_store.upload_files([data / "20news.pkl"], target_path="20newsgroups", overwrite=True)
    assert (reference.datastore, reference.path_on_datastore) == (folder_store, "20newsgroups")
    assert folder_store.upload(data, target_path="copy").path_on_datastore == "copy"
    (data / "20news.pkl").write_bytes(b"changed")
    folder_store.upload_files([data / "20news.pkl"], target_path="20newsgroups")  # kept: no overwrite
    client = folder_store.client()
    assert client.list_files("copy") == ["20news.pkl", "nested/part.csv"]
    assert (client.root / "20newsgroups" / "20news.pkl").read_bytes() == b"pickle"

    target = tmp_path / "downloaded"
    assert folder_store.download(target, prefix="copy") == 2
    assert (target / "copy" / "nested" / "part.csv").read_text() == "a,b\n"
    assert folder_store.download(target, prefix="20newsgroups/20news.pkl") == 1
    assert (target / "20newsgroups" / "20news.pkl").read_bytes() == b"pickle"


def test_notebook_methods_refuse_missing_local_files(folder_store, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a file"):
        folder_store.upload_files([tmp_path / "missing.csv"])
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        folder_store.upload(tmp_path / "missing")


def test_publish_swaps_in_a_new_attempt_and_drops_the_old_files(tmp_path):
    store = LocalFolderDatastore("s", tmp_path / "root")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "stale.txt").write_text("old attempt")
    (second / "model.pkl").write_text("new attempt")
    store.publish(first, "runs/out")
    store.publish(second, "runs/out")
    assert store.list_files("runs/out") == ["model.pkl"]
    assert store.list_files("") == ["runs/out/model.pkl"]  # no staging leftovers


def test_paths_cannot_leave_the_datastore(tmp_path):
    store = LocalFolderDatastore("s", tmp_path)
    for bad in ("../outside", "a/../../outside"):
        with pytest.raises(DatastoreError, match="leaves the datastore"):
            store.exists(bad)
    with pytest.raises(DatastoreError, match="refusing to delete the whole datastore"):
        store.delete("")


def test_download_of_nothing_is_a_clear_error(tmp_path):
    with pytest.raises(DatastoreError, match="datastore 's': nothing at 'missing'"):
        LocalFolderDatastore("s", tmp_path).download("missing", tmp_path / "x")


def test_uri_is_a_file_uri(tmp_path):
    assert LocalFolderDatastore("s", tmp_path).uri("a/b.csv") == (tmp_path / "a" / "b.csv").resolve().as_uri()


def test_hook_builds_the_datastore_from_its_connection(folder_store, tmp_path):
    from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastoreHook

    assert LocalFolderDatastoreHook("folder_store").get_conn().root == (tmp_path / "store").resolve()
    assert Path(str(tmp_path)).exists()


def _tested(monkeypatch, root: object, conn_id: str = "probe") -> tuple[bool, str]:
    from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastoreHook

    extra = {} if root is None else {"root": str(root)}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "mlpipe_local", "extra": extra})
    )
    return LocalFolderDatastoreHook(conn_id).test_connection()


def test_test_connection_writes_a_probe_and_leaves_nothing(monkeypatch, tmp_path):
    import socket

    (tmp_path / "store").mkdir()
    ok, message = _tested(monkeypatch, tmp_path / "store")
    assert (
        ok and message == f"{tmp_path / 'store'} exists and is writable (checked on {socket.gethostname()})."
    )
    assert list((tmp_path / "store").iterdir()) == []

    ok, message = _tested(monkeypatch, tmp_path / "a" / "b")
    assert ok and message.startswith(
        f"{tmp_path / 'a' / 'b'} does not exist yet; it can be created in {tmp_path}"
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "store"]


def test_test_connection_says_what_is_wrong(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    assert _tested(monkeypatch, tmp_path / "file")[1].startswith(
        f"{tmp_path / 'file'} is a file, not a folder"
    )
    ok, message = _tested(monkeypatch, tmp_path / "file" / "sub")
    assert not ok and message.startswith(
        f"cannot create {tmp_path / 'file' / 'sub'}: {tmp_path / 'file'} is a file"
    )
    ok, message = _tested(monkeypatch, None)
    assert not ok and message == 'No folder given: fill in "Root folder" (extra {"root": "/path"}).'
    ok, message = _tested(monkeypatch, "relative/store")
    assert (
        not ok
        and message
        == "Root folder must be an absolute path (workers resolve 'relative/store' in their own working folders)."
    )

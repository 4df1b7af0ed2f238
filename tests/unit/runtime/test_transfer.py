"""`DataTransferStep`: v1's parse-time checks, chaining, and `copy_data` between local folders and Blob.

Blob tests drive the real azure-storage-blob client against Azurite: one instance for copies
within a storage account, and a second instance (another endpoint, so another account) for
copies across accounts.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe import (
    DataReference,
    Datastore,
    DataTransferStep,
    Pipeline,
    PipelineData,
    PythonScriptStep,
)
from airflow_provider_mlpipe.graph import build_graph
from airflow_provider_mlpipe.hooks.datastore import DatastoreError
from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastore
from airflow_provider_mlpipe.runtime import transfer
from airflow_provider_mlpipe.runtime.transfer import TransferResult, copy_data
from tests.services.azurite import AzuriteServer, as_connection, blob_connection, start_azurite

MB = 1024 * 1024
BLOBS = Datastore("blobs")
LAKE = Datastore("lake")


def source_ref(path: str = "raw/data", datastore: Datastore = BLOBS, name: str = "raw") -> DataReference:
    return DataReference(datastore, name, path)


def dest_ref(path: str = "copies/data", datastore: Datastore = LAKE, name: str = "copied") -> DataReference:
    return DataReference(datastore, name, path)


# ====================================================================== authoring


def test_package_root_exports_data_transfer_step():
    assert mlpipe.DataTransferStep is DataTransferStep
    assert "DataTransferStep" in mlpipe.__all__


def test_v1_signature_and_defaults():
    step = DataTransferStep("copy data", source_ref(), dest_ref())
    assert step.kind == "DataTransferStep"
    assert step.allow_reuse is True
    assert step.source_reference_type is None and step.destination_reference_type is None
    assert step.compute_target is None
    assert step.inputs[0].name == "raw" and len(step.inputs) == 1
    assert step.outputs == [step.get_output()]
    positional = DataTransferStep("c2", source_ref(), dest_ref(), None, "file", "FILE", False)
    assert (positional.source_reference_type, positional.destination_reference_type) == ("file", "file")
    assert positional.allow_reuse is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"destination_data_reference": dest_ref()},
            r"DataTransferStep 'copy': source_data_reference is required",
        ),
        (
            {"source_data_reference": source_ref()},
            r"DataTransferStep 'copy': destination_data_reference is required",
        ),
        ({}, r"DataTransferStep 'copy': source_data_reference is required"),
    ],
)
def test_source_and_destination_are_required(kwargs: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        DataTransferStep("copy", **kwargs)


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_name_must_be_a_non_empty_string(name: Any):
    with pytest.raises(ValueError, match="DataTransferStep: name must be a non-empty string"):
        DataTransferStep(name, source_ref(), dest_ref())


def test_wrong_kinds_of_source_and_destination_are_type_errors():
    data = PipelineData("d")
    with pytest.raises(TypeError, match=r"'copy': source_data_reference must be a DataReference.*'raw/data'"):
        DataTransferStep("copy", "raw/data", dest_ref())
    with pytest.raises(
        TypeError, match=r"'copy': destination_data_reference must be a DataReference or a PipelineData"
    ):
        DataTransferStep("copy", source_ref(), "copies/data")
    with pytest.raises(
        TypeError, match=r"'copy': destination_data_reference is written, not read.*'d' itself"
    ):
        DataTransferStep("copy", source_ref(), data.as_input("d_in"))


def test_source_and_destination_cannot_be_the_same_data():
    data = PipelineData("d")
    with pytest.raises(ValueError, match=r"'copy': the source and the destination are the same"):
        DataTransferStep("copy", data, data)
    with pytest.raises(ValueError, match=r"'copy': the source and the destination are the same"):
        DataTransferStep("copy", data.as_mount(), data)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("file", "file"),
        ("FILE", "file"),
        ("Directory", "directory"),
        ("directory", "directory"),
        (None, None),
    ],
)
def test_reference_types_are_case_insensitive_and_stored_lower_case(given: str | None, stored: str | None):
    step = DataTransferStep("copy", source_ref(), dest_ref(), source_reference_type=given)
    assert step.source_reference_type == stored
    step = DataTransferStep("copy", source_ref(), dest_ref(), destination_reference_type=given)
    assert step.destination_reference_type == stored


@pytest.mark.parametrize("argument", ["source_reference_type", "destination_reference_type"])
def test_unknown_reference_types_give_the_v1_errors(argument: str):
    with pytest.raises(
        ValueError,
        match=rf"^DataTransferStep 'copy': Unknown value provided for {argument}\. "
        r"Possible values include: file, directory\.$",
    ):
        DataTransferStep("copy", source_ref(), dest_ref(), **{argument: "folder"})
    with pytest.raises(
        ValueError,
        match=rf"^DataTransferStep 'copy': {argument} must be a string\. Possible values include: file, directory\.$",
    ):
        DataTransferStep("copy", source_ref(), dest_ref(), **{argument: 1})


def test_destination_reference_needs_a_path():
    for path in (None, "", "/"):
        with pytest.raises(
            ValueError, match=r"'copy': destination DataReference 'copied' needs a path_on_datastore"
        ):
            DataTransferStep("copy", source_ref(), DataReference(LAKE, "copied", path))


@pytest.mark.parametrize(
    ("source_path", "destination_path"),
    [("raw", "raw"), ("raw", "raw/copy"), ("raw/data", "raw"), ("", "copy"), ("raw/", "/raw")],
)
def test_overlapping_references_on_one_datastore_are_refused(source_path: str, destination_path: str):
    with pytest.raises(
        ValueError, match=r"'copy': source .* and destination .* overlap on datastore 'blobs'"
    ):
        DataTransferStep("copy", source_ref(source_path), dest_ref(destination_path, datastore=BLOBS))


def test_same_path_on_other_datastores_or_siblings_is_fine():
    DataTransferStep("a", source_ref("raw"), dest_ref("raw", datastore=LAKE))
    DataTransferStep("b", source_ref("raw"), dest_ref("raw2", datastore=BLOBS))
    DataTransferStep("c", source_ref("raw/x"), dest_ref("raw/y", datastore=BLOBS))


def test_compute_target_is_accepted_and_ignored_with_a_warning():
    with pytest.warns(UserWarning, match=r"step 'copy': compute_target is ignored by DataTransferStep"):
        step = DataTransferStep("copy", source_ref(), dest_ref(), compute_target="adf-compute")
    assert step.compute_target is None
    with pytest.warns(UserWarning, match="compute_target is ignored"):
        step = DataTransferStep("copy", source_ref(), dest_ref(), compute_target=SimpleNamespace(name="adf"))
    assert step.compute_target is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataTransferStep("copy", source_ref(), dest_ref())


def test_data_reference_destination_gets_an_internal_output_on_its_datastore():
    step = DataTransferStep("copy data-1", source_ref(), dest_ref())
    output = step.get_output()
    assert isinstance(output, PipelineData)
    assert output.name == output.output_name == "copy_data_1_output"
    assert output.datastore == LAKE
    assert output.producers == [step]
    assert step.destination_reference is step.destination
    assert step.transfer_spec() == {
        "source_type": None,
        "destination_type": None,
        "destination": {"datastore": "lake", "path_on_datastore": "copies/data"},
    }


def test_pipeline_data_destination_is_the_output():
    target = PipelineData("copied", datastore=LAKE)
    step = DataTransferStep("copy", source_ref(), target, source_reference_type="Directory")
    assert step.get_output() is target
    assert step.outputs == [target] and target.producers == [step]
    assert step.destination_reference is None
    spec = step.transfer_spec()
    assert spec == {"source_type": "directory", "destination_type": None, "destination": None}
    assert json.loads(json.dumps(spec)) == spec


def test_default_datastore_destination_is_named_none_in_the_spec():
    step = DataTransferStep("copy", source_ref(), DataReference(Datastore.default(), "out", "exports/x"))
    assert step.transfer_spec()["destination"] == {"datastore": None, "path_on_datastore": "exports/x"}


def write_script(folder: Path) -> Path:
    (folder / "train.py").write_text("print('train')\n")
    return folder


@pytest.mark.parametrize("destination", ["reference", "pipeline_data"])
def test_get_output_chains_a_later_step(tmp_path: Path, destination: str):
    target = dest_ref() if destination == "reference" else PipelineData("copied", datastore=LAKE)
    copy = DataTransferStep("copy data", source_ref(), target)
    train = PythonScriptStep(
        "train.py",
        name="train",
        arguments=["--data", copy.get_output()],
        inputs=[copy.get_output()],
        source_directory=write_script(tmp_path),
    )
    renamed = PythonScriptStep(
        "train.py",
        name="score",
        inputs=[copy.get_output().as_input("training_data")],
        source_directory=tmp_path,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = Pipeline([train, renamed])  # the copy step is pulled in as the producer
    assert pipeline.validate() == []
    graph, problems = build_graph([train, renamed], tmp_path)
    assert problems == [] and graph is not None
    assert [n.name for n in graph.nodes] == ["copy data", "train", "score"]
    assert graph.node("train").upstream == ["copy data"]
    assert graph.node("score").upstream == ["copy data"]
    output_name = copy.get_output().output_name
    assert graph.node("score").inputs == [
        {"name": "training_data", "mode": "mount", "producer": "copy data", "output_name": output_name}
    ]
    node = graph.node("copy data")
    assert node.inputs == [
        {"name": "raw", "mode": "mount", "datastore": "blobs", "path_on_datastore": "raw/data"}
    ]
    assert node.outputs == [{"name": output_name, "datastore": "lake", "is_directory": None, "mode": "mount"}]


def test_source_from_another_step_orders_the_copy_after_it(tmp_path: Path):
    raw = PipelineData("raw_data", datastore=BLOBS)
    prep = PythonScriptStep("train.py", name="prep", outputs=[raw], source_directory=write_script(tmp_path))
    assert raw.producers == [prep]
    copy = DataTransferStep("copy", raw.as_input("prepared"), dest_ref(), source_reference_type="directory")
    pipeline = Pipeline([copy])
    assert pipeline.validate() == []
    assert [n.name for n in pipeline.graph().nodes] == ["prep", "copy"]
    assert pipeline.graph().node("copy").upstream == ["prep"]
    assert copy.inputs[0].name == "prepared"


def test_unproduced_source_and_two_producers_are_reported(tmp_path: Path):
    orphan = PipelineData("orphan")
    copy = DataTransferStep("copy", orphan, dest_ref())
    problems = Pipeline([copy]).validate()
    assert any("input 'orphan' is not connected to any previous step" in p for p in problems)

    shared = PipelineData("shared")
    first = DataTransferStep("first", source_ref("a"), shared)
    second = DataTransferStep("second", source_ref("b"), shared)
    problems = Pipeline([first, second]).validate()
    assert any("PipelineData 'shared' is an output of two steps: 'first' and 'second'" in p for p in problems)


# ====================================================================== runtime: local folders


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".mlpipe-staging" not in p.relative_to(root).parts
    }


TREE = {
    "model.pkl": os.urandom(4096),
    "empty.txt": b"",
    "conf/params.json": b'{"alpha": 0.5}',
    "conf/deep/er/weights.bin": os.urandom(70_000),
    "données/é t.csv": b"a,b\n1,2\n",
}
TREE_BYTES = sum(len(v) for v in TREE.values())
OLD = {"stale.txt": b"old", "conf/params.json": b"old params", "gone/x.bin": b"x"}


@pytest.fixture
def local_a(tmp_path: Path) -> LocalFolderDatastore:
    return LocalFolderDatastore("local_a", tmp_path / "a")


@pytest.fixture
def local_b(tmp_path: Path) -> LocalFolderDatastore:
    return LocalFolderDatastore("local_b", tmp_path / "b")


def test_local_to_local_directory_replaces_the_destination(local_a, local_b):
    write_tree(local_a.root / "data", TREE)
    write_tree(local_b.root / "copy", OLD)

    result = copy_data(local_a, "data", local_b, "copy", "directory")

    assert result == TransferResult(len(TREE), TREE_BYTES, "local")
    assert read_tree(local_b.root / "copy") == TREE
    assert local_b.list_files("copy") == sorted(TREE)
    assert read_tree(local_a.root / "data") == TREE  # the source is untouched


def test_local_to_local_file_lands_at_exactly_the_destination(local_a, local_b):
    write_tree(local_a.root, {"data/model.pkl": b"model"})
    write_tree(local_b.root / "out" / "model.pkl", OLD)  # a folder in the way is replaced by the file

    result = copy_data(local_a, "data/model.pkl", local_b, "out/model.pkl", "file")

    assert result == TransferResult(1, 5, "local")
    assert (local_b.root / "out" / "model.pkl").read_bytes() == b"model"


def test_local_copy_within_one_datastore_and_of_the_whole_root(local_a, local_b, tmp_path):
    write_tree(local_a.root / "data", TREE)
    local_a.publish(write_tree(tmp_path / "out", {"o.txt": b"o"}), "published")  # leaves a staging folder
    assert (local_a.root / ".mlpipe-staging").is_dir()

    assert copy_data(local_a, "data", local_a, "backup/data", "directory").files == len(TREE)
    assert read_tree(local_a.root / "backup" / "data") == TREE

    result = copy_data(local_a, "", local_b, "everything", "directory")
    assert result.files == len(local_a.list_files(""))
    assert local_b.list_files("everything") == local_a.list_files("")
    assert not (local_b.root / "everything" / ".mlpipe-staging").exists()


def test_empty_local_folder_copies_as_an_empty_folder(local_a, local_b):
    (local_a.root / "empty").mkdir(parents=True)
    write_tree(local_b.root / "copy", OLD)
    assert copy_data(local_a, "empty", local_b, "copy", "directory") == TransferResult(0, 0, "local")
    assert (local_b.root / "copy").is_dir() and local_b.list_files("copy") == []


def test_local_source_errors(local_a, local_b):
    write_tree(local_a.root, {"data/f.txt": b"f"})
    with pytest.raises(DatastoreError, match=r"datastore 'local_a': no file at 'missing' to copy$"):
        copy_data(local_a, "missing", local_b, "x", "file")
    with pytest.raises(
        DatastoreError, match=r"no file at 'data' to copy \(it is a folder: use reference type 'directory'\)"
    ):
        copy_data(local_a, "data", local_b, "x", "file")
    with pytest.raises(
        DatastoreError, match=r"no folder at 'data/f.txt' to copy \(it is a file: use reference type 'file'\)"
    ):
        copy_data(local_a, "data/f.txt", local_b, "x", "directory")
    assert not (local_b.root / "x").exists()


def test_copy_arguments_that_would_destroy_data_are_refused(local_a, local_b):
    write_tree(local_a.root, {"data/f.txt": b"f"})
    with pytest.raises(ValueError, match="kind must be 'file' or 'directory'"):
        copy_data(local_a, "data", local_b, "x", "folder")
    for destination in ("", "/"):
        with pytest.raises(DatastoreError, match="datastore 'local_b': a copy needs a destination path"):
            copy_data(local_a, "data", local_b, destination, "directory")
    for source, destination in (("data", "data"), ("data", "data/sub"), ("data/f.txt", "data"), ("", "x")):
        with pytest.raises(DatastoreError, match="source and destination overlap"):
            copy_data(local_a, source, local_a, destination, "directory")
    with pytest.raises(DatastoreError, match="leaves the datastore"):
        copy_data(local_a, "data", local_b, "../outside", "directory")
    assert read_tree(local_a.root) == {"data/f.txt": b"f"}


# ====================================================================== runtime: Blob (Azurite)


class WireCounter:
    """A `raw_response_hook`: requests by method, and the bytes of blob content GETs (not listings)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.content_gets = 0
        self.content_bytes = 0

    def __call__(self, pipeline_response: Any) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        listing = "list" in parse_qs(urlparse(request.url).query).get("comp", [])
        with self.lock:
            self.requests[request.method] += 1
            if request.method == "GET" and not listing:
                self.content_gets += 1
                self.content_bytes += int(response.headers.get("Content-Length") or 0)


def blob_store(server: AzuriteServer, container: str, name: str = "blob", **options: Any):
    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore

    return BlobDatastore.from_connection(name, as_connection(blob_connection(server, container, **options)))


def counted_store(
    server: AzuriteServer, container: str, counter: WireCounter, name: str = "counted", root: str = ""
):
    from azure.storage.blob import BlobServiceClient

    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore

    client = BlobServiceClient.from_connection_string(server.connection_string, raw_response_hook=counter)
    return BlobDatastore(name, client, container, root=root)


def new_container() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def other_account(
    azurite: AzuriteServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AzuriteServer]:
    """A second Azurite: another endpoint, so another storage account as far as copies go."""
    server = start_azurite(tmp_path_factory.mktemp("azurite-other"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def blob_source(azurite: AzuriteServer, tmp_path: Path):
    """A Blob datastore (with a root prefix) holding TREE under data/, a file and a folder both named 'twin'."""
    store = blob_store(azurite, new_container(), "source", root="base")
    store.upload_directory(write_tree(tmp_path / "tree", TREE), "data")
    write_tree(tmp_path / "twin", {"twin": b"the file", "twin_dir/child.txt": b"the folder"})
    store.upload_file(tmp_path / "twin" / "twin", "twin")
    store.upload_file(tmp_path / "twin" / "twin_dir" / "child.txt", "twin/child.txt")
    return store


def blob_tree(store: Any, path: str, tmp_path: Path) -> dict[str, bytes]:
    return read_tree(store.download(path, tmp_path / f"check-{uuid.uuid4().hex}"))


@pytest.mark.integration
def test_local_to_blob_directory_and_file(azurite, local_a, tmp_path):
    write_tree(local_a.root / "data", TREE)
    store = blob_store(azurite, new_container(), root="r")
    store.upload_directory(write_tree(tmp_path / "old", OLD), "copy")

    assert copy_data(local_a, "data", store, "copy", "directory") == TransferResult(
        len(TREE), TREE_BYTES, "upload"
    )
    assert store.list_files("copy") == sorted(TREE)
    assert blob_tree(store, "copy", tmp_path) == TREE

    weights = TREE["conf/deep/er/weights.bin"]
    result = copy_data(local_a, "data/conf/deep/er/weights.bin", store, "copy", "file")
    assert result == TransferResult(1, len(weights), "upload")
    assert not store.is_directory("copy")  # the file replaced the folder
    assert store.read_bytes("copy") == weights


@pytest.mark.integration
def test_blob_to_local_directory_and_file(blob_source, local_b, tmp_path):
    write_tree(local_b.root / "copy", OLD)

    result = copy_data(blob_source, "data", local_b, "copy", "directory")
    assert result == TransferResult(len(TREE), TREE_BYTES, "download")
    assert read_tree(local_b.root / "copy") == TREE

    assert copy_data(blob_source, "data/model.pkl", local_b, "copy", "file") == TransferResult(
        1, len(TREE["model.pkl"]), "download"
    )
    assert (local_b.root / "copy").read_bytes() == TREE["model.pkl"]
    assert not list(local_b.root.rglob("*.part"))


@pytest.mark.integration
def test_reference_types_tell_a_blob_and_a_folder_of_the_same_name_apart(blob_source, local_b, tmp_path):
    assert copy_data(blob_source, "twin", local_b, "as_file", "file").files == 1
    assert (local_b.root / "as_file").read_bytes() == b"the file"
    assert copy_data(blob_source, "twin", local_b, "as_folder", "directory").files == 1
    assert read_tree(local_b.root / "as_folder") == {"child.txt": b"the folder"}


@pytest.mark.integration
def test_blob_source_errors(blob_source, local_b):
    with pytest.raises(DatastoreError, match=r"datastore 'source': no folder at 'nothing' to copy$"):
        copy_data(blob_source, "nothing", local_b, "x", "directory")
    with pytest.raises(
        DatastoreError, match=r"no file at 'data' to copy \(it is a folder: use reference type 'directory'\)"
    ):
        copy_data(blob_source, "data", local_b, "x", "file")
    with pytest.raises(
        DatastoreError,
        match=r"no folder at 'data/model.pkl' to copy \(it is a file: use reference type 'file'\)",
    ):
        copy_data(blob_source, "data/model.pkl", local_b, "x", "directory")
    with pytest.raises(DatastoreError, match="source and destination overlap"):
        copy_data(blob_source, "data", blob_source, "data/inner", "directory")


@pytest.mark.integration
@pytest.mark.parametrize("destination_auth", ["connection_string", "sas_token"])
def test_blob_to_blob_on_one_account_is_server_side(azurite, blob_source, tmp_path, destination_auth):
    from azure.storage.blob import ContentSettings

    counter = WireCounter()
    source = counted_store(azurite, blob_source.container, counter, "source", root=blob_source.root)
    destination = blob_store(azurite, new_container(), "destination", auth=destination_auth)
    assert source.same_account(destination) and destination.same_account(source)
    destination.upload_directory(write_tree(tmp_path / "old", OLD), "copy")
    blob_source.blob_client("data/model.pkl").set_http_headers(
        content_settings=ContentSettings(content_type="application/x-pickle")
    )

    result = copy_data(source, "data", destination, "copy", "directory")

    assert result == TransferResult(len(TREE), TREE_BYTES, "server-side")
    assert counter.content_gets == 0 and counter.content_bytes == 0  # no content through the worker
    assert blob_tree(destination, "copy", tmp_path) == TREE  # old files gone, content equal
    assert (
        destination.blob_properties("copy/model.pkl").content_settings.content_type == "application/x-pickle"
    )

    result = copy_data(source, "twin", destination, "one/file", "file")
    assert result == TransferResult(1, len(b"the file"), "server-side")
    assert destination.read_bytes("one/file") == b"the file"
    assert counter.content_gets == 0


@pytest.mark.integration
def test_server_side_copy_creates_a_missing_destination_container(azurite, blob_source, tmp_path):
    container = new_container()
    destination = blob_store(azurite, container, "destination")
    assert not azurite.service_client().get_container_client(container).exists()
    assert copy_data(blob_source, "data", destination, "in/new", "directory").method == "server-side"
    assert blob_tree(destination, "in/new", tmp_path) == TREE


@pytest.mark.integration
def test_refused_server_side_copy_falls_back_to_streaming(azurite, blob_source, tmp_path, monkeypatch):
    destination = blob_store(azurite, new_container(), "destination", auth="sas_token")
    bogus = "sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=Ym9ndXM%3D"
    monkeypatch.setattr(blob_source, "read_sas", lambda path: bogus)  # Azurite: CannotVerifyCopySource

    result = copy_data(blob_source, "data", destination, "copy", "directory")

    assert result == TransferResult(len(TREE), TREE_BYTES, "streamed")
    assert blob_tree(destination, "copy", tmp_path) == TREE


@pytest.mark.integration
def test_blobs_refused_after_the_first_server_side_copy_are_streamed(
    azurite, blob_source, tmp_path, monkeypatch
):
    destination = blob_store(azurite, new_container(), "destination", auth="sas_token")
    real = blob_source.read_sas
    first = "data/" + sorted(TREE)[0]
    bogus = "sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=Ym9ndXM%3D"
    monkeypatch.setattr(blob_source, "read_sas", lambda path: real(path) if path == first else bogus)

    result = copy_data(blob_source, "data", destination, "copy", "directory")

    assert result == TransferResult(len(TREE), TREE_BYTES, "server-side+streamed")
    assert blob_tree(destination, "copy", tmp_path) == TREE


@pytest.mark.integration
def test_source_without_any_read_sas_is_streamed(azurite, tmp_path):
    from azure.storage.blob import BlobServiceClient

    from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore

    container = new_container()
    admin = azurite.service_client().create_container(container, public_access="container")
    for name, content in TREE.items():
        admin.upload_blob(f"data/{name}", content)
    anonymous = BlobDatastore("public", BlobServiceClient(account_url=azurite.blob_endpoint), container)
    assert anonymous.credential_kind == "anonymous" and anonymous.read_sas("data/model.pkl") is None
    destination = blob_store(azurite, new_container(), "destination", auth="sas_token")
    assert destination.credential_kind == "sas"

    assert copy_data(anonymous, "data", destination, "copy", "directory").method == "streamed"
    assert blob_tree(destination, "copy", tmp_path) == TREE


@pytest.mark.integration
def test_blob_to_blob_across_accounts_is_streamed(azurite, other_account, blob_source, tmp_path, monkeypatch):
    from azure.storage.blob import ContentSettings

    monkeypatch.setattr(transfer, "BLOCK_SIZE", MB)  # big blobs go in several ranged blocks
    big = os.urandom(3 * MB + 12345)
    blob_source.upload_directory(write_tree(tmp_path / "big", {"big.bin": big}), "data")
    blob_source.blob_client("data/big.bin").set_http_headers(
        content_settings=ContentSettings(content_type="application/x-big"),
    )
    blob_source.blob_client("data/big.bin").set_blob_metadata({"origin": "lab"})
    counter = WireCounter()
    destination = counted_store(other_account, new_container(), counter, "elsewhere")
    assert not blob_source.same_account(destination)
    assert blob_source.account_name == destination.account_name  # same name, other endpoint
    destination.upload_directory(write_tree(tmp_path / "old", OLD), "copy")
    expected = {**TREE, "big.bin": big}

    result = copy_data(blob_source, "data", destination, "copy", "directory")

    assert result == TransferResult(len(expected), TREE_BYTES + len(big), "streamed")
    assert blob_tree(destination, "copy", tmp_path) == expected
    properties = destination.blob_properties("copy/big.bin")
    assert properties.content_settings.content_type == "application/x-big"
    assert properties.metadata == {"origin": "lab"}

    result = copy_data(blob_source, "data/big.bin", destination, "big/one.bin", "file")
    assert result == TransferResult(1, len(big), "streamed")
    assert destination.read_bytes("big/one.bin") == big

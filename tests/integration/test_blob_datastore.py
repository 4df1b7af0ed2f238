"""BlobDatastore against Azurite through the real azure-storage-blob client (no mocks)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_mlpipe.hooks.blob_datastore import BlobDatastore
from airflow_provider_mlpipe.hooks.datastore import DatastoreError
from tests.services.azurite import (
    AUTH_STYLES,
    AzuriteServer,
    airflow_conn_env,
    as_connection,
    blob_connection,
    container_sas_token,
)

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


MODEL_FILES = {
    "model.pkl": os.urandom(4096),
    "empty.txt": b"",
    "conf/params.json": b'{"alpha": 0.5}',
    "conf/deep/er/weights.bin": os.urandom(70_000),
    "données/é t.csv": b"a,b\n1,2\n",
}


@pytest.fixture
def container() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def store(azurite: AzuriteServer, container: str) -> BlobDatastore:
    return BlobDatastore.from_connection(
        "models", as_connection(blob_connection(azurite, container, root="ml"))
    )


# ---------------------------------------------------------------------- building from connections


@pytest.mark.parametrize("auth", AUTH_STYLES)
def test_each_auth_style_reads_and_writes(
    azurite: AzuriteServer, container: str, tmp_path: Path, auth: str
) -> None:
    ds = BlobDatastore.from_connection(
        "models", as_connection(blob_connection(azurite, container, root="base", auth=auth))
    )
    source = write_tree(tmp_path / "src", {"w.bin": b"weights-" + auth.encode()})

    assert ds.upload_file(source / "w.bin", "run1/w.bin") is True
    assert ds.list_files("run1") == ["w.bin"]
    assert ds.download("run1/w.bin", tmp_path / "w.bin").read_bytes() == b"weights-" + auth.encode()
    assert ds.uri("run1/w.bin") == f"{azurite.blob_endpoint}/{container}/base/run1/w.bin"
    # The blob really sits under the root prefix of the container.
    admin = azurite.service_client().get_container_client(container)
    assert [b.name for b in admin.list_blobs()] == ["base/run1/w.bin"]


def test_container_sas_token_works_on_an_existing_container(
    azurite: AzuriteServer, container: str, tmp_path: Path
) -> None:
    azurite.service_client().create_container(container)
    token = container_sas_token(azurite, container)
    ds = BlobDatastore.from_connection(
        "shared", as_connection(blob_connection(azurite, container, auth="sas_token", sas_token=token))
    )
    write_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})

    assert ds.upload_directory(tmp_path / "src", "out") == 2
    assert ds.list_files("out") == ["a.txt", "b/c.txt"]
    ds.delete("out")
    assert not ds.exists("out")


def test_airflow_connection_from_environment(
    azurite: AzuriteServer, container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.connection import Connection

    for name, value in airflow_conn_env("mlpipe_blob", blob_connection(azurite, container)).items():
        monkeypatch.setenv(name, value)
    conn = Connection.get_connection_from_secrets("mlpipe_blob")
    ds = BlobDatastore.from_connection("env", conn)
    (tmp_path / "f").write_bytes(b"from env")

    assert ds.upload_file(tmp_path / "f", "f") is True
    assert ds.download("f", tmp_path / "g").read_bytes() == b"from env"


def test_api_version_from_extra_is_used(azurite: AzuriteServer, container: str) -> None:
    description = blob_connection(azurite, container)
    description["extra"]["api_version"] = "2025-11-05"
    ds = BlobDatastore.from_connection("pinned", as_connection(description))

    assert ds.service_client.api_version == "2025-11-05"
    assert ds.exists("anything") is False


def test_missing_container_in_extra_is_refused_naming_the_options(azurite: AzuriteServer) -> None:
    description = blob_connection(azurite, "unused")
    del description["extra"]["container"]
    with pytest.raises(DatastoreError) as refused:
        BlobDatastore.from_connection("models", as_connection(description))
    message = str(refused.value)
    assert message.startswith("datastore 'models': the wasb connection has no 'container'")
    assert '{"container": "<name>"}' in message
    assert "[mlpipe] default_container" in message and "AIRFLOW__MLPIPE__DEFAULT_CONTAINER" in message


def test_default_container_serves_a_wasb_connection_without_one(
    azurite: AzuriteServer, container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__MLPIPE__DEFAULT_CONTAINER", container)
    description = blob_connection(azurite, "unused")
    del description["extra"]["container"]
    ds = BlobDatastore.from_connection("models", as_connection(description))
    (tmp_path / "f").write_bytes(b"default container")

    assert ds.container == container
    assert ds.upload_file(tmp_path / "f", "f") is True
    assert azurite.service_client().get_container_client(container).get_blob_client("f").exists()
    # The connection's own container still wins.
    assert (
        BlobDatastore.from_connection("other", as_connection(blob_connection(azurite, "own"))).container
        == "own"
    )


def test_the_client_comes_from_wasbhook_with_extras_passed_through_and_our_tuning(
    azurite: AzuriteServer, container: str
) -> None:
    from airflow_provider_mlpipe.hooks.blob_datastore import BLOCK_SIZE, shared_session

    proxies = {"https": "http://proxy.example:3128"}
    for auth in ("connection_string", "account_key", "legacy_extra"):
        description = blob_connection(azurite, container, auth=auth)
        key = "extra__wasb__proxies" if auth == "legacy_extra" else "proxies"
        description["extra"][key] = proxies
        client = BlobDatastore.from_connection("models", as_connection(description)).service_client
        # WasbHook hands the connection's extras to BlobServiceClient: proxies reach the pipeline.
        assert client._config.proxy_policy.proxies == proxies, auth
        # ... and the transfer tuning is applied to the client it builds.
        assert client._config.max_block_size == BLOCK_SIZE
        assert client._pipeline._transport.session is shared_session()


def test_localhost_account_url_keeps_working(azurite: AzuriteServer, container: str, tmp_path: Path) -> None:
    description = blob_connection(azurite, container, auth="account_key")
    description["host"] = azurite.blob_endpoint.replace("127.0.0.1", "localhost")
    ds = BlobDatastore.from_connection("models", as_connection(description))
    (tmp_path / "f").write_bytes(b"local")

    assert ds.upload_file(tmp_path / "f", "f") is True
    assert ds.download("f", tmp_path / "g").read_bytes() == b"local"


def test_invalid_container_name_is_refused(azurite: AzuriteServer) -> None:
    with pytest.raises(DatastoreError, match=r"datastore 'models'.*'Bad_Name' is not a valid container"):
        BlobDatastore.from_connection("models", as_connection(blob_connection(azurite, "Bad_Name")))


def test_wrong_account_key_gives_a_clear_error(azurite: AzuriteServer, container: str) -> None:
    description = blob_connection(azurite, container, auth="account_key")
    description["password"] = "d3Jvbmcga2V5"
    ds = BlobDatastore.from_connection("models", as_connection(description))
    with pytest.raises(DatastoreError, match=rf"datastore 'models'.*'{container}/x'.*AuthorizationFailure"):
        ds.exists("x")


def test_token_credential_styles_need_https(azurite: AzuriteServer, container: str) -> None:
    # Service principal and DefaultAzureCredential: the SDK refuses tokens over http (Azurite here).
    for extra in ({"tenant_id": "tenant"}, {"extra__wasb__tenant_id": "tenant"}, {}):
        conn = SimpleNamespace(
            conn_type="wasb",
            host=azurite.blob_endpoint,
            login="client-id" if extra else None,
            password="secret" if extra else None,
            extra_dejson={"container": container, **extra},
        )
        with pytest.raises(DatastoreError, match=r"datastore 'models'.*only supported with HTTPS"):
            BlobDatastore.from_connection("models", conn)


def test_token_credential_styles_build_for_an_azure_account(container: str) -> None:
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    principal = SimpleNamespace(
        conn_type="wasb",
        host=None,
        login="client-id",
        password="secret",
        extra_dejson={"container": container, "tenant_id": "tenant"},
    )
    ds = BlobDatastore.from_connection("models", principal)
    assert isinstance(ds.service_client.credential, ClientSecretCredential)
    assert ds.uri("a/b") == f"https://client-id.blob.core.windows.net/{container}/a/b"

    managed = SimpleNamespace(
        conn_type="wasb",
        host="myaccount.blob.core.windows.net",
        login=None,
        password=None,
        extra_dejson={"container": container, "managed_identity_client_id": "mi", "root": "r"},
    )
    ds = BlobDatastore.from_connection("models", managed)
    assert isinstance(ds.service_client.credential, DefaultAzureCredential)
    assert ds.uri("a") == f"https://myaccount.blob.core.windows.net/{container}/r/a"


# ---------------------------------------------------------------------- operations


def test_upload_directory_list_exists_and_is_directory(store: BlobDatastore, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "model", MODEL_FILES)

    assert store.upload_directory(source, "run/model") == len(MODEL_FILES)
    assert store.list_files("run/model") == sorted(MODEL_FILES)
    assert store.list_files("run/model/conf") == ["deep/er/weights.bin", "params.json"]
    assert store.list_files("run/nothing") == []
    assert store.exists("run/model")
    assert store.is_directory("run/model")
    assert store.exists("run/model/model.pkl")
    assert not store.is_directory("run/model/model.pkl")
    assert store.exists("run/model/empty.txt")
    # Prefixes are matched on whole path segments.
    assert not store.exists("run/mod")
    assert not store.exists("run/model/model")
    assert not store.exists("run/model/model.pkl/x")
    assert not store.is_directory("run/nothing")


def test_download_folder_and_file_byte_for_byte(store: BlobDatastore, tmp_path: Path) -> None:
    store.upload_directory(write_tree(tmp_path / "model", MODEL_FILES), "run/model")

    out = store.download("run/model", tmp_path / "copy")
    assert out == tmp_path / "copy"
    assert read_tree(out) == MODEL_FILES
    single = store.download("run/model/conf/deep/er/weights.bin", tmp_path / "one" / "w.bin")
    assert single.read_bytes() == MODEL_FILES["conf/deep/er/weights.bin"]
    assert not list((tmp_path / "one").glob(".*.part"))


def test_large_blob_goes_in_parallel_chunks(azurite: AzuriteServer, container: str, tmp_path: Path) -> None:
    client = azurite.service_client(
        max_single_put_size=MB, max_block_size=MB, max_single_get_size=MB, max_chunk_get_size=MB
    )
    ds = BlobDatastore("big", client, container)
    payload = os.urandom(5 * MB + 123)
    (tmp_path / "big.bin").write_bytes(payload)

    assert ds.upload_file(tmp_path / "big.bin", "big.bin") is True
    assert ds.download("big.bin", tmp_path / "back.bin").read_bytes() == payload


def test_a_64_mib_upload_is_one_put_blob_as_with_the_plain_sdk(
    store: BlobDatastore, azurite: AzuriteServer, container: str, tmp_path: Path
) -> None:
    # The SDK sends files up to 64 MiB as one Put Blob; sent as staged 8 MiB blocks they went at
    # 0.4x its speed (bench/transfer.py). Only a single Put Blob leaves a content MD5 on the blob.
    with open(tmp_path / "mid.bin", "wb") as handle:
        handle.truncate(64 * MB)

    assert store.upload_file(tmp_path / "mid.bin", "mid.bin") is True
    properties = azurite.service_client().get_blob_client(container, "ml/mid.bin").get_blob_properties()
    assert properties.size == 64 * MB
    assert properties.content_settings.content_md5 is not None


def test_download_of_a_file_is_one_get_as_for_a_known_file(
    store: BlobDatastore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A path of unknown kind that names a (non-empty) blob costs one GET, not a GET and a listing:
    # at 8 MiB on Azurite the extra listing put download() at 0.83x the plain SDK (bench/transfer.py).
    (tmp_path / "model.bin").write_bytes(b"weights")
    store.upload_file(tmp_path / "model.bin", "run/model.bin")
    import requests

    seen: list[str] = []
    send = requests.Session.send

    def counted(session, request, **kwargs):  # every request of the SDK, on the wire
        seen.append(f"{request.method} {request.url}")
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", counted)
    out = store.download("run/model.bin", tmp_path / "got.bin")
    monkeypatch.undo()
    assert out.read_bytes() == b"weights"
    assert len(seen) == 1 and seen[0].startswith("GET"), seen


def test_download_reads_a_folder_over_an_empty_or_marker_blob_of_the_same_name(
    store: BlobDatastore, azurite: AzuriteServer, container: str, tmp_path: Path
) -> None:
    """Tools leave an empty blob, or one with hdi_isfolder metadata, to stand for a folder."""
    write_tree(tmp_path / "folder", {"inner.txt": b"a file in the folder"})
    (tmp_path / "empty").write_bytes(b"")
    store.upload_file(tmp_path / "empty", "empty_marker")
    store.upload_directory(tmp_path / "folder", "empty_marker")
    service = azurite.service_client().get_container_client(container)
    service.upload_blob("ml/meta_marker", b"", metadata={"hdi_isfolder": "true"})
    store.upload_directory(tmp_path / "folder", "meta_marker")

    for path in ("empty_marker", "meta_marker"):
        out = store.download(path, tmp_path / f"got_{path}")
        assert read_tree(out) == {"inner.txt": b"a file in the folder"}, path
    assert not list(tmp_path.glob(".*.part"))
    # An empty blob with nothing below it is an empty file.
    store.upload_file(tmp_path / "empty", "just_empty")
    assert store.download("just_empty", tmp_path / "just_empty").read_bytes() == b""


def test_a_non_empty_blob_is_the_file_even_with_blobs_below_its_name(
    store: BlobDatastore, tmp_path: Path
) -> None:
    (tmp_path / "blob").write_bytes(b"a blob")
    write_tree(tmp_path / "folder", {"inner.txt": b"a file in the folder"})
    store.upload_file(tmp_path / "blob", "both")
    store.upload_directory(tmp_path / "folder", "both")

    assert store.download("both", tmp_path / "got").read_bytes() == b"a blob"
    assert not store.is_directory("both")
    assert store.download_directory("both", tmp_path / "below") == 1  # the folder is still readable as one


def test_download_of_nothing_names_datastore_and_path(store: BlobDatastore, tmp_path: Path) -> None:
    with pytest.raises(DatastoreError, match=r"^datastore 'models': nothing at 'run/missing'$"):
        store.download("run/missing", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_container_reads_as_empty_and_is_created_on_first_write(
    azurite: AzuriteServer, store: BlobDatastore, container: str, tmp_path: Path
) -> None:
    assert not store.exists("a")
    assert store.list_files("") == []
    store.delete("a")  # nothing there is fine
    assert not azurite.service_client().get_container_client(container).exists()

    (tmp_path / "a").write_bytes(b"a")
    assert store.upload_file(tmp_path / "a", "a") is True
    assert azurite.service_client().get_container_client(container).exists()


def test_upload_directory_creates_the_container_once_under_concurrency(
    store: BlobDatastore, tmp_path: Path
) -> None:
    files = {f"part-{i:03d}.txt": f"row {i}\n".encode() for i in range(60)}
    write_tree(tmp_path / "parts", files)

    assert store.upload_directory(tmp_path / "parts", "table") == 60
    assert store.list_files("table") == sorted(files)


def test_overwrite_false_keeps_existing_content(store: BlobDatastore, tmp_path: Path) -> None:
    write_tree(tmp_path / "v1", {"a.txt": b"first", "b.txt": b"first b"})
    write_tree(tmp_path / "v2", {"a.txt": b"second", "c.txt": b"new c"})
    store.upload_directory(tmp_path / "v1", "d")

    assert store.upload_file(tmp_path / "v2" / "a.txt", "d/a.txt") is False
    assert store.upload_directory(tmp_path / "v2", "d") == 1
    assert read_tree(store.download("d", tmp_path / "got1")) == {
        "a.txt": b"first",
        "b.txt": b"first b",
        "c.txt": b"new c",
    }
    assert store.upload_file(tmp_path / "v2" / "a.txt", "d/a.txt", overwrite=True) is True
    assert store.upload_directory(tmp_path / "v2", "d", overwrite=True) == 2
    assert store.download("d/a.txt", tmp_path / "a.txt").read_bytes() == b"second"


def test_publish_replaces_an_earlier_attempt(store: BlobDatastore, tmp_path: Path) -> None:
    write_tree(tmp_path / "attempt1", {"model.pkl": b"old", "extra/leftover.txt": b"stale"})
    write_tree(tmp_path / "attempt2", {"model.pkl": b"new", "metrics.json": b"{}"})
    store.publish(tmp_path / "attempt1", "run/model")
    store.publish(tmp_path / "attempt2", "run/model")

    assert store.list_files("run/model") == ["metrics.json", "model.pkl"]
    assert read_tree(store.download("run/model", tmp_path / "got")) == {
        "metrics.json": b"{}",
        "model.pkl": b"new",
    }

    # A single file replaces a folder too.
    (tmp_path / "score.txt").write_bytes(b"0.93")
    store.publish(tmp_path / "score.txt", "run/model")
    assert not store.is_directory("run/model")
    assert store.download("run/model", tmp_path / "score").read_bytes() == b"0.93"


def test_delete_file_folder_and_nothing(store: BlobDatastore, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"m/a.txt": b"a", "m/sub/b.txt": b"b", "mx/keep.txt": b"k", "m.txt": b"f"})
    store.upload_directory(tmp_path / "src", "")

    store.delete("m")
    assert not store.exists("m")
    assert store.list_files("") == ["m.txt", "mx/keep.txt"]  # siblings sharing the prefix survive
    store.delete("m.txt")
    store.delete("never/there")
    assert store.list_files("") == ["mx/keep.txt"]
    with pytest.raises(DatastoreError, match="refusing to delete the whole datastore"):
        store.delete("")


def test_uri_shape(azurite: AzuriteServer, store: BlobDatastore, container: str) -> None:
    base = f"{azurite.blob_endpoint}/{container}/ml"
    assert store.uri("run/model/") == f"{base}/run/model"
    assert store.uri("/run\\model.pkl") == f"{base}/run/model.pkl"
    assert store.uri("") == base
    # A SAS token never leaks into the URI.
    sas = BlobDatastore.from_connection(
        "s", as_connection(blob_connection(azurite, container, auth="sas_url"))
    )
    assert sas.uri("x") == f"{azurite.blob_endpoint}/{container}/x"


@pytest.mark.parametrize("path", ["../x", "a/../../x", ".."])
def test_paths_leaving_the_datastore_are_refused(store: BlobDatastore, tmp_path: Path, path: str) -> None:
    (tmp_path / "f").write_bytes(b"f")
    calls = [
        lambda: store.uri(path),
        lambda: store.exists(path),
        lambda: store.list_files(path),
        lambda: store.download(path, tmp_path / "d"),
        lambda: store.upload_file(tmp_path / "f", path),
        lambda: store.upload_directory(tmp_path, path),
        lambda: store.delete(path),
    ]
    for call in calls:
        with pytest.raises(DatastoreError, match=r"datastore 'models'.*leaves the datastore"):
            call()

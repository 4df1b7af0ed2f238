"""v1's notebook methods of a Datastore (`upload_files`, `upload`, `download`): where files go, what
they return, when existing files are kept, and the progress they show.

The local-folder cases need no service; the Blob cases run the same calls against Azurite.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from airflow_provider_mlpipe import DataReference, Datastore


@pytest.fixture
def store(tmp_path, monkeypatch) -> Datastore:
    root = tmp_path / "store"
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOTEBOOK_STORE", json.dumps({"conn_type": "mlpipe_local", "extra": {"root": str(root)}})
    )
    return Datastore("notebook_store")


def write_tree(root: Path, files: dict[str, str]) -> list[Path]:
    written = []
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        written.append(target)
    return written


def stored(datastore: Datastore) -> dict[str, str]:
    client = datastore.client()
    return {path: (client.root / path).read_text() for path in client.list_files("")}


def test_positional_v1_call_puts_files_below_target_path_relative_to_relative_root(store, tmp_path):
    files = write_tree(tmp_path / "data", {"train/a.csv": "a", "train/deep/b.csv": "b", "test/c.csv": "c"})
    # v1's order: files, relative_root, target_path, overwrite, show_progress
    reference = store.upload_files(files, str(tmp_path / "data"), "inputs", False, False)
    assert stored(store) == {
        "inputs/train/a.csv": "a",
        "inputs/train/deep/b.csv": "b",
        "inputs/test/c.csv": "c",
    }
    assert isinstance(reference, DataReference)
    assert reference.datastore == store and reference.path_on_datastore == "inputs"


def test_relative_root_defaults_to_the_files_common_folder(store, tmp_path):
    files = write_tree(tmp_path / "data", {"train/a.csv": "a", "train/deep/b.csv": "b"})
    store.upload_files(files, target_path="t", show_progress=False)
    assert stored(store) == {"t/a.csv": "a", "t/deep/b.csv": "b"}
    [single] = write_tree(tmp_path / "one", {"x/only.txt": "1"})
    store.upload_files([single], show_progress=False)  # one file: its own folder, the datastore's root
    assert stored(store)["only.txt"] == "1"


def test_relative_root_must_hold_every_file(store, tmp_path):
    files = write_tree(tmp_path, {"a/x.txt": "x", "b/y.txt": "y"})
    with pytest.raises(ValueError, match=r"relative_root .* does not hold .*y\.txt"):
        store.upload_files(files, relative_root=str(tmp_path / "a"), show_progress=False)
    assert stored(store) == {}  # nothing uploaded


def test_relative_paths_and_relative_root_are_read_from_the_working_folder(store, tmp_path, monkeypatch):
    write_tree(tmp_path, {"data/sub/f.txt": "f"})
    monkeypatch.chdir(tmp_path)
    store.upload_files(["data/sub/f.txt"], relative_root="data", show_progress=False)
    assert stored(store) == {"sub/f.txt": "f"}


def test_upload_files_keeps_existing_files_unless_overwrite(store, tmp_path):
    [file] = write_tree(tmp_path / "d", {"f.txt": "first"})
    store.upload_files([file], target_path="p", show_progress=False)
    file.write_text("second")
    store.upload_files([file], target_path="p", show_progress=False)
    assert stored(store) == {"p/f.txt": "first"}
    store.upload_files([file], target_path="p", overwrite=True, show_progress=False)
    assert stored(store) == {"p/f.txt": "second"}


def test_missing_local_files_are_refused_before_anything_is_uploaded(store, tmp_path):
    [present] = write_tree(tmp_path, {"present.txt": "p"})
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        store.upload_files([present, tmp_path / "missing.csv"], show_progress=False)
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        store.upload(tmp_path / "missing", show_progress=False)
    assert stored(store) == {}


def test_upload_returns_a_reference_to_target_path_and_keeps_existing_files(store, tmp_path):
    write_tree(tmp_path / "src", {"a.txt": "a", "n/b.txt": "b"})
    reference = store.upload(str(tmp_path / "src"), "copy", False, False)
    assert isinstance(reference, DataReference)
    assert (reference.datastore, reference.path_on_datastore) == (store, "copy")
    (tmp_path / "src" / "a.txt").write_text("changed")
    store.upload(tmp_path / "src", "copy", show_progress=False)
    assert stored(store) == {"copy/a.txt": "a", "copy/n/b.txt": "b"}
    store.upload(tmp_path / "src", "copy", overwrite=True, show_progress=False)
    assert stored(store)["copy/a.txt"] == "changed"
    assert store.upload(tmp_path / "src", show_progress=False).path_on_datastore == ""
    assert stored(store)["n/b.txt"] == "b"


def test_download_returns_the_count_written_and_skips_existing_local_files(store, tmp_path):
    write_tree(tmp_path / "src", {"a.txt": "a", "n/b.txt": "b"})
    store.upload(tmp_path / "src", "copy", show_progress=False)
    target = tmp_path / "down"
    assert store.download(target, "copy", False, False) == 2
    assert (target / "copy" / "n" / "b.txt").read_text() == "b"  # blob names are kept under target_path
    (target / "copy" / "a.txt").write_text("local edit")
    assert store.download(target, prefix="copy", show_progress=False) == 0
    assert (target / "copy" / "a.txt").read_text() == "local edit"
    assert store.download(target, prefix="copy", overwrite=True, show_progress=False) == 2
    assert (target / "copy" / "a.txt").read_text() == "a"


def test_download_prefix_is_a_name_prefix_as_in_v1(store, tmp_path):
    write_tree(tmp_path / "src", {"data/x.txt": "x", "data2/y.txt": "y", "other/z.txt": "z"})
    store.upload(tmp_path / "src", show_progress=False)
    assert store.download(tmp_path / "all", show_progress=False) == 3
    assert store.download(tmp_path / "d", prefix="data", show_progress=False) == 2
    assert sorted(p.relative_to(tmp_path / "d").as_posix() for p in (tmp_path / "d").rglob("*.txt")) == [
        "data/x.txt",
        "data2/y.txt",
    ]
    assert store.download(tmp_path / "e", prefix="data/", show_progress=False) == 1
    assert store.download(tmp_path / "f", prefix="data/x.txt", show_progress=False) == 1
    assert store.download(tmp_path / "g", prefix="nothing", show_progress=False) == 0


def test_show_progress_prints_a_summary_and_false_prints_nothing(store, tmp_path, capsys):
    files = write_tree(tmp_path / "d", {"a.txt": "aaaa", "b.txt": "bb"})
    store.upload_files(files, show_progress=False)
    store.download(tmp_path / "down", show_progress=False)
    assert capsys.readouterr() == ("", "")
    store.upload_files(files, target_path="p", show_progress=True)
    out = capsys.readouterr().out
    assert "Uploading" in out and "2/2 files" in out and "6 B" in out
    store.download(tmp_path / "down2", prefix="p", show_progress=True)
    out = capsys.readouterr().out
    assert "Downloading" in out and "2/2 files" in out


def test_progress_updates_in_place_on_a_terminal(store, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    files = write_tree(tmp_path / "d", {f"f{i}.txt": "x" * i for i in range(1, 6)})
    store.upload_files(files, show_progress=True)
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, redrawn with carriage returns
    assert "\r" in text and "5/5 files" in text.rsplit("\r", 1)[-1]
    assert "[" in text and "#" in text  # a bar

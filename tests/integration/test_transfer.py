"""DataTransferStep chains for real: dag.test() runs between local folders and Azurite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER, REPO
from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value
from tests.services.azurite import airflow_conn_env, blob_connection

pytestmark = pytest.mark.integration

COUNT = """
    import json, os, sys
    source, target = sys.argv[1], sys.argv[2]
    files = sorted(os.listdir(source)) if os.path.isdir(source) else [os.path.basename(source)]
    os.makedirs(target, exist_ok=True)
    json.dump(files, open(os.path.join(target, "files.json"), "w"))
"""


def connect(kind: str, name: str, request, tmp_path, monkeypatch) -> None:
    if kind == "local":
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / name)}}
    else:
        connection = blob_connection(
            request.getfixturevalue("azurite"), name.replace("_", "-"), auth="connection_string"
        )
    for key, value in airflow_conn_env(name, connection).items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize(
    ("source_kind", "destination_kind", "method"),
    [
        ("local", "local", "local"),
        ("local", "blob", "upload"),
        ("blob", "local", "download"),
        ("blob", "blob", "server-side"),
    ],
)
def test_a_folder_is_copied_and_handed_on(
    source_kind, destination_kind, method, request, tmp_path, monkeypatch
):
    from airflow_provider_mlpipe import Datastore

    connect(source_kind, "src_store", request, tmp_path, monkeypatch)
    connect(
        destination_kind,
        "dst_store" if destination_kind != source_kind or source_kind == "local" else "src_store",
        request,
        tmp_path,
        monkeypatch,
    )
    destination = "dst_store" if destination_kind != source_kind or source_kind == "local" else "src_store"
    source = Datastore("src_store").client()
    staging = tmp_path / "staging"
    (staging / "sub").mkdir(parents=True)
    (staging / "a.csv").write_text("x\n1\n")
    (staging / "sub" / "b.csv").write_text("x\n2\n")
    source.upload_directory(staging, "raw", overwrite=True)
    dag_id = f"transfer_{source_kind}_{destination_kind}"
    dag_file = write_project(
        dag_id,
        f"""
        from airflow_provider_mlpipe import DataReference, DataTransferStep, Datastore, Pipeline, PipelineData, PythonScriptStep
        raw = DataReference(Datastore("src_store"), "raw", "raw")
        copied = PipelineData("copied", datastore=Datastore({destination!r}))
        listed = PipelineData("listed")
        copy = DataTransferStep(name="copy", source_data_reference=raw, destination_data_reference=copied)
        count = PythonScriptStep("count.py", name="count", arguments=[copy.get_output(), listed],
                                 inputs=[copy.get_output()], outputs=[listed], source_directory="{dag_id}_src")
        dag = Pipeline([copy, count]).to_dag({dag_id!r})
        """,
        {"count.py": COUNT},
    )
    dag_run = run_dag(dag_file, dag_id)
    assert task_states(dag_run) == {"copy": "success", "count": "success"}
    record = xcom_value(dag_run, "copy")["copied"]
    target = Datastore(destination).client()
    assert record["datastore"] == destination and target.list_files(record["path_on_datastore"]) == [
        "a.csv",
        "sub/b.csv",
    ]
    assert xcom_value(dag_run, "copy", key="mlpipe_reuse")["transfer"]["method"] == method
    listed = xcom_value(dag_run, "count")["listed"]
    Datastore(listed["datastore"]).client().download(listed["path_on_datastore"], tmp_path / "listed")
    assert json.loads((tmp_path / "listed" / "files.json").read_text()) == ["a.csv", "sub"]

    again = run_dag(dag_file, dag_id)
    assert xcom_value(again, "copy", key="mlpipe_reuse")["decision"] == "hit", (
        "an unchanged source is not copied again"
    )
    (staging / "a.csv").write_text("x\n1\n3\n")
    source.upload_file(staging / "a.csv", "raw/a.csv", overwrite=True)
    changed = run_dag(dag_file, dag_id)
    assert xcom_value(changed, "copy", key="mlpipe_reuse")["decision"] == "miss", (
        "a changed source is copied again"
    )


def test_the_example_copies_the_input_folder(tmp_path):
    import runpy

    runpy.run_path(str(REPO / "dags" / "compare_models" / "prepare_data.py"))["main"]()
    target = DAGS_FOLDER / "mlpipe_transfer_example.py"
    if not target.exists():
        target.symlink_to(REPO / "dags" / "mlpipe_transfer_example.py")
    dag_run = run_dag(target, "mlpipe_transfer_example", conf={"regenerate_outputs": True})
    assert task_states(dag_run) == {"copy_raw": "success", "count_rows": "success"}
    rows = json.loads(
        (
            Path(xcom_value(dag_run, "count_rows")["rows"]["uri"].removeprefix("file://")) / "rows.json"
        ).read_text()
    )
    assert rows == {"wine.csv": 178}


def test_a_file_copied_to_a_fixed_data_reference(tmp_path, monkeypatch, request):
    from airflow_provider_mlpipe import Datastore

    connect("local", "file_src", request, tmp_path, monkeypatch)
    connect("local", "file_dst", request, tmp_path, monkeypatch)
    (tmp_path / "model.bin").write_bytes(b"weights")
    Datastore("file_src").client().upload_file(tmp_path / "model.bin", "models/model.bin")
    dag_file = write_project(
        "transfer_file",
        """
        from airflow_provider_mlpipe import DataReference, DataTransferStep, Datastore, Pipeline
        model = DataReference(Datastore("file_src"), "model", "models/model.bin")
        published = DataReference(Datastore("file_dst"), "published", "serving/current.bin")
        copy = DataTransferStep(name="publish", source_data_reference=model, destination_data_reference=published,
                                source_reference_type="file", destination_reference_type="File")
        dag = Pipeline([copy]).to_dag("transfer_file")
        """,
        {},
    )
    dag_run = run_dag(dag_file, "transfer_file")
    assert task_states(dag_run) == {"publish": "success"}
    assert (tmp_path / "file_dst" / "serving" / "current.bin").read_bytes() == b"weights"
    record = next(iter(xcom_value(dag_run, "publish").values()))
    assert record["path_on_datastore"] == "serving/current.bin" and record["is_directory"] is False

"""v1's data bindings in real task runs: a binding in `arguments` is the input of `inputs`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

READ = """
    import json, os, sys
    args = sys.argv[1:]
    out = args[args.index("--out") + 1]
    os.makedirs(out, exist_ok=True)
    read = {}
    for index, arg in enumerate(args):
        if arg == "--read":
            path = args[index + 1]
            read[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
    with open(os.path.join(out, "report.json"), "w") as handle:
        json.dump({"argv": args, "read": read}, handle)
"""


def report(dag_run, task_id: str) -> dict:
    record = xcom_value(dag_run, task_id)["out"]
    return json.loads((Path(record["uri"][len("file://") :]) / "report.json").read_text())


def test_bindings_in_arguments_receive_the_local_path_of_their_input(embedded_datastore_root):
    raw = embedded_datastore_root / "bindings_raw"
    (raw / "folder").mkdir(parents=True, exist_ok=True)
    (raw / "folder" / "part-0.csv").write_text("a,b\n")
    (raw / "one.txt").write_text("single file")
    dag_file = write_project(
        "bindings",
        """
        from airflow_provider_mlpipe import (
            DataReference, Datastore, Pipeline, PipelineData, PythonScriptStep, StepSequence,
        )
        store = Datastore.default()
        folder = DataReference(store, "raw_folder", "bindings_raw/folder")
        single = DataReference(store, "raw_file").path("bindings_raw/one.txt", "raw_file")
        model = PipelineData("model", is_directory=False)
        out, out2 = PipelineData("out"), PipelineData("out")
        write = PythonScriptStep(
            "write.py", name="write", arguments=[model], outputs=[model], source_directory="bindings_src",
        )
        # v1 notebooks: the binding in arguments, the data object in inputs (and the other way round)
        read = PythonScriptStep(
            "read.py", name="read",
            arguments=[
                "--read", folder.as_download(), "--read", single, "--read", model.as_download(),
                "--out", out,
            ],
            inputs=[folder, single.as_download(), model], outputs=[out], source_directory="bindings_src",
        )
        again = PythonScriptStep(
            "read.py", name="again", arguments=["--read", folder.as_mount(), "--out", out2],
            inputs=[folder], outputs=[out2], source_directory="bindings_src",
        )
        dag = Pipeline(None, steps=StepSequence([write, [read], again])).to_dag("bindings")
        """,
        {"read.py": READ, "write.py": "import sys\nopen(sys.argv[1], 'w').write('weights')\n"},
    )
    dag_run = run_dag(dag_file, "bindings")
    assert task_states(dag_run) == {"write": "success", "read": "success", "again": "success"}

    argv = report(dag_run, "read")["argv"]
    in_place, downloaded, model = argv[1], argv[3], argv[5]
    assert in_place == str(raw / "folder"), "the inputs list says mount: read in place"
    assert "/inputs/raw_file/" in downloaded, "the inputs list says download"
    assert model.startswith(str(embedded_datastore_root / "mlpipe" / "bindings")), "mount: read in place"
    assert report(dag_run, "read")["read"] == {
        in_place: ["part-0.csv"],
        downloaded: "single file",
        model: "weights",
    }
    assert report(dag_run, "again")["read"] == {str(raw / "folder"): ["part-0.csv"]}


def test_paths_on_compute_place_the_data_where_the_script_expects_it(embedded_datastore_root):
    raw = embedded_datastore_root / "placed_raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "part-0.csv").write_text("a,b\n")
    dag_file = write_project(
        "placed",
        """
        from airflow_provider_mlpipe import DataReference, Datastore, Pipeline, PipelineData, PythonScriptStep
        raw = DataReference(Datastore.default(), "raw", "placed_raw")
        model = PipelineData("model", output_mode="upload", output_path_on_compute="outputs/model")
        out = PipelineData("out")
        train = PythonScriptStep(
            "train.py", name="train", arguments=["--data", raw],
            inputs=[raw.as_download(path_on_compute="data/raw")], outputs=[model], source_directory="placed_src",
        )
        score = PythonScriptStep(
            "score.py", name="score", arguments=["--model", model.as_download()],
            inputs=[model.as_download(path_on_compute="model")], outputs=[out], source_directory="placed_src",
        )
        dag = Pipeline([train, score]).to_dag("placed")
        """,
        {
            # v1 scripts that read and write fixed paths, relative to their working folder
            "train.py": """
                import os, sys
                assert os.path.abspath(sys.argv[2]) == os.path.abspath("data/raw"), sys.argv
                rows = open("data/raw/part-0.csv").read()
                with open("outputs/model/weights.txt", "w") as handle:
                    handle.write("trained on " + rows)
            """,
            "score.py": """
                import os, sys
                assert os.path.abspath(sys.argv[2]) == os.path.abspath("model"), sys.argv
                out = os.environ["AZUREML_DATAREFERENCE_out"]
                os.makedirs(out, exist_ok=True)
                open(os.path.join(out, "score.txt"), "w").write(open("model/weights.txt").read())
            """,
        },
    )
    dag_run = run_dag(dag_file, "placed")
    assert task_states(dag_run) == {"train": "success", "score": "success"}
    record = xcom_value(dag_run, "score")["out"]
    assert (Path(record["uri"][len("file://") :]) / "score.txt").read_text() == "trained on a,b\n"

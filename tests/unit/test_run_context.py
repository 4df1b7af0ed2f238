"""`Run.get_context()` for step scripts: v1's metric shapes, the offline run, bad input, concurrent logging."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from airflow_provider_mlpipe import run_context
from airflow_provider_mlpipe.run_context import (
    FALLBACK_MODULE,
    METRICS_FILE_ENV,
    PIPELINE_RUN_ID_ENV,
    RUN_ID_ENV,
    OfflineRun,
    Run,
    aggregate,
    metrics_from_file,
)


@pytest.fixture
def step_run(tmp_path, monkeypatch) -> Run:
    """The run context a script sees inside a step (the operator's environment variables set)."""
    monkeypatch.setenv(METRICS_FILE_ENV, str(tmp_path / "metrics.jsonl"))
    monkeypatch.setenv(RUN_ID_ENV, "dag/run/task")
    monkeypatch.setattr(Run, "_context", None)
    return Run.get_context()


@pytest.fixture
def offline(monkeypatch) -> Run:
    monkeypatch.delenv(METRICS_FILE_ENV, raising=False)
    monkeypatch.setattr(Run, "_context", None)
    return Run.get_context()


def test_the_package_exports_run_without_importing_airflow():
    code = (
        "import sys\n"
        "from airflow_provider_mlpipe import Run\n"
        "assert Run.__module__ == 'airflow_provider_mlpipe.run_context'\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_v1_shapes_value_list_and_table(step_run, tmp_path):
    step_run.log("accuracy", 0.9, description="held-out accuracy")
    step_run.log("loss", 0.5)
    step_run.log("loss", 0.25)
    step_run.log("loss", 0.125)
    step_run.log_list("curve", [1, 2, 3])
    step_run.log_list("curve", (4,))
    step_run.log("best", "forest")
    step_run.log("converged", True)
    step_run.log_row("leaderboard", model="forest", accuracy=0.95)
    step_run.log_row("leaderboard", model="logistic", accuracy=0.9, f1=0.88)
    step_run.log_row("leaderboard", accuracy=0.5)

    expected = {
        "accuracy": 0.9,
        "loss": [0.5, 0.25, 0.125],
        "curve": [1, 2, 3, 4],
        "best": "forest",
        "converged": True,
        "leaderboard": {
            "model": ["forest", "logistic", None],
            "accuracy": [0.95, 0.9, 0.5],
            "f1": [None, 0.88, None],
        },
    }
    assert step_run.get_metrics() == expected
    assert metrics_from_file(tmp_path / "metrics.jsonl") == (expected, [])
    assert step_run.id == "dag/run/task"
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 11
    assert json.loads(lines[0]) == {
        "name": "accuracy",
        "kind": "scalar",
        "value": 0.9,
        "description": "held-out accuracy",
    }


def test_a_value_then_a_list_is_one_list_and_an_empty_list_is_kept():
    metrics, problems = aggregate(
        [
            {"name": "x", "kind": "scalar", "value": 1},
            {"name": "x", "kind": "list", "value": [2, 3]},
            {"name": "empty", "kind": "list", "value": []},
        ]
    )
    assert (metrics, problems) == ({"x": [1, 2, 3], "empty": []}, [])


def test_aggregate_drops_records_of_another_kind_and_unreadable_ones():
    metrics, problems = aggregate(
        [
            {"name": "t", "kind": "row", "value": {"a": 1}},
            {"name": "t", "kind": "scalar", "value": 2},
            {"name": "v", "kind": "scalar", "value": 1},
            {"name": "v", "kind": "row", "value": {"a": 1}},
            {"name": "w", "kind": "histogram", "value": 1},
            {"kind": "scalar", "value": 1},
        ]
    )
    assert metrics == {"t": {"a": [1]}, "v": 1}
    assert len(problems) == 4
    assert "metric 't' was first logged with log_row; a log of it was dropped" in problems
    assert "metric 'v' was first logged with log or log_list; a log_row of it was dropped" in problems


def test_a_truncated_line_is_reported_and_the_others_kept(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"name": "a", "kind": "scalar", "value": 1}\n[1]\n{"name": "b", "kind": "sca')
    metrics, problems = metrics_from_file(path)
    assert metrics == {"a": 1}
    assert [p.split(" of ")[0] for p in problems] == ["line 2", "line 3"]
    assert metrics_from_file(tmp_path / "missing.jsonl") == ({}, [])


def test_numpy_and_other_numbers_become_plain_json_values(step_run):
    step_run.log("int64", np.int64(7))
    step_run.log("float32", np.float32(0.5))
    step_run.log("flag", np.bool_(True))
    step_run.log("fraction", Fraction(1, 4))
    step_run.log_list("array", np.arange(3))
    step_run.log_row("table", n=np.int32(2))
    metrics = step_run.get_metrics()
    assert metrics == {
        "int64": 7,
        "float32": 0.5,
        "flag": True,
        "fraction": 0.25,
        "array": [0, 1, 2],
        "table": {"n": [2]},
    }
    assert [type(metrics[k]) for k in ("int64", "float32", "flag")] == [int, float, bool]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r: r.log("", 1), ValueError, "a metric name must be a non-empty string, got ''"),
        (lambda r: r.log("  ", 1), ValueError, "non-empty string"),
        (lambda r: r.log(3, 1), ValueError, "non-empty string, got 3"),
        (
            lambda r: r.log("x", None),
            TypeError,
            "metric 'x': value must be a number, a string or a bool, got NoneType",
        ),
        (lambda r: r.log("x", [1, 2]), TypeError, "got list"),
        (lambda r: r.log("x", {"a": 1}), TypeError, "got dict"),
        (lambda r: r.log("x", math.nan), ValueError, "metric 'x': value nan is not finite"),
        (lambda r: r.log("x", float("inf")), ValueError, "not finite"),
        (lambda r: r.log("x", 1, description=5), TypeError, "description must be a string"),
        (lambda r: r.log_list("x", 1), TypeError, "log_list needs a list or tuple, got int"),
        (lambda r: r.log_list("x", "abc"), TypeError, "log_list needs a list or tuple, got str"),
        (lambda r: r.log_list("x", [1, object()]), TypeError, "metric 'x': item 1 must be"),
        (lambda r: r.log_row("x"), ValueError, "log_row needs at least one column"),
        (lambda r: r.log_row("x", a=[1]), TypeError, "metric 'x': column 'a' must be"),
    ],
)
def test_bad_input_raises_a_clear_error_and_logs_nothing(step_run, call, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(step_run)
    assert step_run.get_metrics() == {}


def test_a_name_keeps_its_kind_within_a_run(step_run):
    step_run.log_row("table", a=1)
    with pytest.raises(
        ValueError, match="metric 'table' was logged with log_row; it cannot also take log_list"
    ):
        step_run.log_list("table", [1])
    step_run.log("value", 1)
    with pytest.raises(ValueError, match="was logged with log or log_list; it cannot also take log_row"):
        step_run.log_row("value", a=1)
    assert step_run.get_metrics() == {"table": {"a": [1]}, "value": 1}


def test_get_context_is_one_run_per_step(step_run, tmp_path, monkeypatch):
    assert Run.get_context() is step_run and type(step_run) is Run
    monkeypatch.setenv(METRICS_FILE_ENV, str(tmp_path / "other.jsonl"))
    other = Run.get_context()
    assert other is not step_run and other.get_metrics() == {}


def test_offline_run_prints_each_metric(offline, capsys):
    assert isinstance(offline, OfflineRun) and offline.id.startswith("OfflineRun_")
    offline.log("accuracy", 0.9)
    offline.log("accuracy", 0.8)
    offline.log_list("curve", [1, 2])
    offline.log_row("table", model="a", score=1)
    printed = capsys.readouterr().out
    assert printed == (
        "Attempted to log scalar metric accuracy:\n0.9\n"
        "Attempted to log scalar metric accuracy:\n0.8\n"
        "Attempted to log list metric curve:\n[1, 2]\n"
        "Attempted to log row metric table:\n{'model': 'a', 'score': 1}\n"
    )
    assert offline.get_metrics() == {
        "accuracy": [0.9, 0.8],
        "curve": [1, 2],
        "table": {"model": ["a"], "score": [1]},
    }
    assert Run.get_context() is offline
    with pytest.raises(ValueError, match="non-empty string"):
        offline.log("", 1)


def test_offline_run_can_be_refused(offline):
    with pytest.raises(RuntimeError, match="not in a pipeline step"):
        Run.get_context(allow_offline=False)


WRITER = """
import sys, threading
from {module} import Run

process, threads, per_thread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run = Run.get_context()
big = list(range(2000))  # a line of about 9 kB, more than the pipe's atomic write size

def write(thread):
    for i in range(per_thread):
        run.log("n", 1)
        run.log_row("rows", process=process, thread=thread, i=i)
        run.log_list("big", big)

workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
"""


def test_processes_and_threads_append_whole_lines(tmp_path):
    """Four processes of four threads each, on an interpreter without the provider (`-S`)."""
    module_dir = tmp_path / "python"
    module_dir.mkdir()
    shutil.copyfile(run_context.__file__, module_dir / f"{FALLBACK_MODULE}.py")
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER.format(module=FALLBACK_MODULE)))
    metrics_file = tmp_path / "metrics.jsonl"
    env = {**os.environ, METRICS_FILE_ENV: str(metrics_file), "PYTHONPATH": str(module_dir)}
    processes, threads, per_thread = 4, 4, 25
    workers = [
        subprocess.Popen(
            [sys.executable, "-S", str(script), str(p), str(threads), str(per_thread)],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr

    metrics, problems = metrics_from_file(metrics_file)
    assert problems == []
    total = processes * threads * per_thread
    assert metrics["n"] == [1] * total
    assert len(metrics["big"]) == total * 2000 and set(metrics["big"][:2000]) == set(range(2000))
    rows = metrics["rows"]
    assert sorted(zip(rows["process"], rows["thread"], rows["i"], strict=True)) == sorted(
        (str(p), t, i) for p in range(processes) for t in range(threads) for i in range(per_thread)
    )


def test_the_fallback_copy_cannot_see_the_provider(tmp_path):
    """The copy of run_context.py works alone: no import of the package it came from."""
    module_dir = tmp_path / "python"
    module_dir.mkdir()
    shutil.copyfile(run_context.__file__, module_dir / f"{FALLBACK_MODULE}.py")
    code = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('airflow_provider_mlpipe') is None\n"
        f"from {FALLBACK_MODULE} import Run\n"
        "run = Run.get_context()\n"
        "run.log('x', 1)\n"
        "print(type(run).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != METRICS_FILE_ENV}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={**env, "PYTHONPATH": str(module_dir)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Attempted to log scalar metric x:\n1\nOfflineRun\n"


# -- v1's other run methods: step, log_table, log_image, tags, files, parent, get_metrics' arguments


@pytest.fixture
def in_step(tmp_path, monkeypatch) -> Run:
    """A step's run context whose pipeline run is `run1`."""
    monkeypatch.setenv(METRICS_FILE_ENV, str(tmp_path / "metrics" / "metrics.jsonl"))
    (tmp_path / "metrics").mkdir()
    monkeypatch.setenv(RUN_ID_ENV, "dag/run1/task")
    monkeypatch.setenv(PIPELINE_RUN_ID_ENV, "run1")
    monkeypatch.setattr(Run, "_context", None)
    return Run.get_context()


PIXEL = b"\x89PNG\r\n\x1a\n-not-really-a-png"


class Figure:
    """What log_image needs of a matplotlib figure (or of pyplot): savefig."""

    def savefig(self, target, format):  # noqa: A002 - matplotlib's name
        assert format == "png"
        target.write(PIXEL)


def test_values_with_a_step_are_ordered_by_it(in_step):
    in_step.log("loss", 0.3, step=3)
    in_step.log("loss", 0.1, description="", step=1)
    in_step.log("loss", 0.2, "", 2)
    in_step.log("once", 1, step=7)
    assert in_step.get_metrics() == {"loss": [0.1, 0.2, 0.3], "once": 1}
    with pytest.raises(ValueError, match="give a step to every value of it or to none"):
        in_step.log("loss", 0.4)
    with pytest.raises(TypeError, match="step must be a number"):
        in_step.log("other", 1, step="first")


def test_log_table_is_a_table_whose_rows_follow_log_rows(in_step):
    in_step.log_row("per_class", label="a", recall=1.0)
    in_step.log_table("per_class", {"label": ["b", "c"], "recall": [0.5]})
    in_step.log_table("confusion", {"x": np.arange(2), "y": (3, 4)})
    assert in_step.get_metrics() == {
        "per_class": {"label": ["a", "b", "c"], "recall": [1.0, 0.5, None]},
        "confusion": {"x": [0, 1], "y": [3, 4]},
    }
    with pytest.raises(TypeError, match="log_table needs a non-empty dict of columns"):
        in_step.log_table("bad", [1, 2])
    with pytest.raises(ValueError, match="was logged with log_table; it cannot also take log"):
        in_step.log("confusion", 1)


def test_log_image_keeps_the_image_beside_the_metrics(in_step, tmp_path):
    picture = tmp_path / "plot.PNG"
    picture.write_bytes(PIXEL)
    assert in_step.log_image("curve", path=str(picture), description="the curve") == "images/curve.png"
    assert in_step.log_image("curve", plot=Figure()) == "images/curve_2.png"
    with open(picture, "rb") as stream:
        assert in_step.log_image("roc auc", stream) == "images/roc_auc.png"
    folder = tmp_path / "metrics" / "images"
    assert sorted(p.name for p in folder.iterdir()) == ["curve.png", "curve_2.png", "roc_auc.png"]
    assert all(p.read_bytes() == PIXEL for p in folder.iterdir())
    assert in_step.get_metrics() == {
        "curve": ["images/curve.png", "images/curve_2.png"],
        "roc auc": "images/roc_auc.png",
    }
    records, _ = run_context.read_records(tmp_path / "metrics" / "metrics.jsonl")
    assert run_context.run_summary(records)["images"][0] == {
        "name": "curve",
        "path": "images/curve.png",
        "description": "the curve",
    }


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({}, ValueError, "give either path or plot"),
        ({"path": "a.png", "plot": Figure()}, ValueError, "give either path or plot"),
        ({"plot": object()}, TypeError, "plot must be matplotlib's pyplot or a Figure"),
        ({"path": "missing.png"}, ValueError, "cannot read missing.png"),
    ],
)
def test_log_image_refuses_what_is_not_one_image(in_step, arguments, error, message):
    with pytest.raises(error, match=message):
        in_step.log_image("x", **arguments)
    assert in_step.get_metrics() == {}


def test_log_image_refuses_a_file_that_is_not_an_image(in_step, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not an image file"):
        in_step.log_image("notes", path=text)


def test_tags_are_kept_and_the_latest_value_of_a_key_wins(in_step):
    in_step.tag("candidate")
    in_step.tag("stage", "dev")
    in_step.set_tags({"stage": "prod", "epochs": 3})
    in_step.set_tags("reviewed")
    assert in_step.get_tags() == {"candidate": None, "stage": "prod", "epochs": "3", "reviewed": None}
    assert in_step.get_metrics() == {}
    with pytest.raises(ValueError, match="a tag key must be a non-empty string"):
        in_step.tag("", "x")
    with pytest.raises(TypeError, match="value must be a string"):
        in_step.tag("k", ["x"])


def test_upload_file_keeps_the_file_with_the_step(in_step, tmp_path):
    model = tmp_path / "model.pkl"
    model.write_bytes(b"model")
    assert in_step.upload_file("outputs/model.pkl", str(model)) == "files/outputs/model.pkl"
    with open(model, "rb") as stream:
        in_step.upload_file("copy.bin", stream, datastore_name="archive")
    assert (tmp_path / "metrics" / "files" / "outputs" / "model.pkl").read_bytes() == b"model"
    records, _ = run_context.read_records(tmp_path / "metrics" / "metrics.jsonl")
    assert run_context.run_summary(records)["files"] == [
        {"name": "outputs/model.pkl", "path": "files/outputs/model.pkl", "datastore": None},
        {"name": "copy.bin", "path": "files/copy.bin", "datastore": "archive"},
    ]
    with pytest.raises(ValueError, match="already uploaded in this step run"):
        in_step.upload_file("outputs/model.pkl", str(model))
    for bad in ("../escape", "/abs", "a//b", ""):
        with pytest.raises(ValueError, match="upload_file"):
            in_step.upload_file(bad, str(model))
    with pytest.raises(ValueError, match="is not a datastore's name"):
        in_step.upload_file("x", str(model), datastore_name="not a name")


def test_parent_is_the_pipeline_run_and_keeps_its_own_metrics_and_tags(in_step, tmp_path):
    parent = in_step.parent
    assert (parent.id, parent.type, in_step.type) == ("run1", "azureml.PipelineRun", "azureml.StepRun")
    assert parent.parent is None
    parent.log("score", 0.5)
    parent.log_row("rows", a=1)
    parent.tag("best", "yes")
    in_step.log("score", 1.0)
    assert in_step.get_metrics() == {"score": 1.0}
    assert parent.get_metrics() == {"score": 0.5, "rows": {"a": [1]}}
    assert (in_step.get_tags(), parent.get_tags()) == ({}, {"best": "yes"})
    with pytest.raises(ValueError, match="images are kept with a step"):
        parent.log_image("x", path="a.png")
    with pytest.raises(ValueError, match="files are kept with a step"):
        parent.upload_file("x", "a.txt")
    records, _ = run_context.read_records(tmp_path / "metrics" / "metrics.jsonl")
    assert run_context.run_summary(records)["parent"] == {
        "metrics": {"score": 0.5, "rows": {"a": [1]}},
        "tags": {"best": "yes"},
    }


def test_get_metrics_takes_v1s_arguments(in_step):
    in_step.log("a", 1)
    in_step.log("b", 2)
    assert in_step.get_metrics("a") == {"a": 1} and in_step.get_metrics(name="zzz") == {}
    assert in_step.get_metrics(recursive=True) == {"dag/run1/task": {"a": 1, "b": 2}}
    assert in_step.get_metrics("b", True, "azureml.StepRun", True) == {"dag/run1/task": {"b": 2}}
    assert in_step.get_metrics(recursive=True, run_type="azureml.PipelineRun") == {}


def test_get_context_takes_v1s_arguments_and_works_as_a_context_manager(in_step):
    assert Run.get_context(True, True) is in_step
    with Run.get_context(used_for_context_manager=True) as run:
        run.log("inside", 1)
    assert in_step.get_metrics() == {"inside": 1}
    with pytest.raises(TypeError, match="unexpected arguments"):
        Run.get_context(outputs="x")


def test_offline_run_prints_tags_images_and_files_and_keeps_no_file(offline, capsys, tmp_path):
    picture = tmp_path / "a.png"
    picture.write_bytes(PIXEL)
    offline.tag("stage", "dev")
    offline.log_image("curve", path=picture)
    offline.upload_file("model.pkl", str(picture))
    printed = capsys.readouterr().out
    assert "Attempted to set tag stage to dev" in printed
    assert "Attempted to log image metric curve:\nimages/curve.png" in printed
    assert "Attempted to upload file model.pkl" in printed
    assert offline.get_tags() == {"stage": "dev"} and offline.parent is None
    assert offline.get_metrics() == {"curve": "images/curve.png"}
    assert not (tmp_path / "images").exists()

"""v1's run objects against a real Airflow deployment: a step found by its name as written, its
metrics, tags and images through the client, and its images on the monitoring page."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_mlpipe import PublishedPipeline, Workspace

pytestmark = [pytest.mark.integration, pytest.mark.deployment]

PIPELINE = "mlpipe_v1_runs_remote"
PIXEL_HEX = (
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)

DAG_FILE = f"""
from airflow_provider_mlpipe import Pipeline, PythonScriptStep

train = PythonScriptStep("train.py", source_directory="{PIPELINE}_src")
dag = Pipeline([train]).publish("{PIPELINE}", description="v1 runs", version="1")
"""

TRAIN = f"""
from airflow_provider_mlpipe import Run

open("pixel.png", "wb").write(bytes.fromhex("{PIXEL_HEX}"))
run = Run.get_context()
run.log("accuracy", 0.875)
run.log_image("pixel", path="pixel.png", description="one pixel")
run.tag("kind", "forest")
run.parent.log("pipeline_score", 0.5)
run.parent.tag("best_step", "train.py")
print(f"train done as {{run.id}}")
"""


@pytest.fixture(scope="module")
def finished(airflow_deployment, tmp_path_factory):
    """One finished run of the published pipeline, through a remote workspace."""
    airflow_deployment.write_dag(PIPELINE, DAG_FILE, {"train.py": TRAIN})
    airflow_deployment.wait_for_dag(PIPELINE, timeout=120)
    ws = Workspace.connect(airflow_deployment.url, username="admin", password="admin")
    published = PublishedPipeline.get(ws, id=PIPELINE)
    run = published.submit(ws, experiment_name="v1_runs_remote")
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"
    yield airflow_deployment, run
    ws.close()


def test_find_step_run_by_the_name_as_written_remotely(finished):
    _, run = finished
    [train] = run.find_step_run("train.py")
    assert (train.name, train.task_id, train.id) == ("train.py", "train_py", f"{PIPELINE}/{run.id}/train_py")
    assert run.find_step_run("train_py") == []
    assert f"train done as {train.id}" in train.get_job_log()
    assert train.get_metrics() == {"accuracy": 0.875, "pixel": "images/pixel.png"}
    assert train.get_tags() == {"kind": "forest"}
    assert run.get_tags() == {"best_step": "train.py"}
    assert run.get_metrics() == {"pipeline_score": 0.5}
    assert [c.name for c in run.get_children(tags="kind")] == ["train.py"]
    with pytest.raises(ValueError, match="a remote run is not at hand here"):
        run.publish_pipeline("again", "d", "2")


def test_the_monitoring_page_shows_the_steps_name_and_images(finished):
    deployment, run = finished
    runs_url = f"/mlpipe/monitor/api/pipelines/{PIPELINE}/runs"
    with deployment.client("admin", "admin") as admin:
        answer = admin.get(runs_url)
        assert answer.status_code == 200, answer.text
        [shown] = [r for r in answer.json()["runs"] if r["run_id"] == run.id]
        [step] = shown["steps"]
        assert (step["task_id"], step["name"]) == ("train_py", "train.py")
        assert step["images"] == [{"name": "pixel", "description": "one pixel", "path": "images/pixel.png"}]
        image_url = f"{runs_url}/{run.id}/steps/train_py/images/images/pixel.png"
        image = admin.get(image_url)
        assert image.status_code == 200, image.text
        assert image.headers["content-type"] == "image/png"
        assert image.content == bytes.fromhex(PIXEL_HEX)
        assert admin.get(f"{runs_url}/{run.id}/steps/train_py/images/images/other.png").status_code == 404
        assert admin.get(f"{runs_url}/{run.id}/steps/nope/images/images/pixel.png").status_code == 404
    with httpx.Client(base_url=deployment.url, timeout=30) as anonymous:
        assert anonymous.get(image_url).status_code == 401

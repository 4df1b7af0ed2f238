"""Port of `aml-pipelines-setup-versioned-pipeline-endpoints.ipynb` (intro-to-pipelines, as of
commit 3228bbfc).

The notebook's v1 calls, in its order, with its arguments. What differs, and why:

- Imports: `from airflow_provider_mlpipe import ...` instead of `azureml.core`,
  `azureml.core.compute` and `azureml.pipeline.*`.
- Compute: the compute cell's target "cpu-cluster" (got or provisioned as AmlCompute) is the Airflow
  queue "default", got as `ComputeTarget(ws, aml_compute_target)`; the step names it, as the
  notebook's does.
- REST auth: `InteractiveLoginAuthentication().get_authentication_header()` (an Azure AD token) is
  an Airflow bearer token header, `{"Authorization": f"Bearer {ws.get_token()}"}`; the URL it
  builds from `endpoint` and the POST are the notebook's.
- Folders: the notebook's `publish_run_train` is `endpoints_src/train` (resolved next to the file
  that builds the pipeline: this module, or the deployment's DAG file).

`notebook()` runs the notebook on `Workspace.from_config()` except the REST cells, which need the
workspace's API server (the embedded local Airflow runs none). On a deployment, a notebook's Pipeline
cannot be published yet (issue 17): `publish_in_dag_file()` publishes the notebook's pipeline twice
from the DAG file (as `pipeline.publish(...)` does, and as `PipelineEndpoint.publish` does for a
Pipeline), and `notebook_on_deployment()` runs the notebook with those published pipelines.
"""

from __future__ import annotations

from datetime import datetime

import requests

from airflow_provider_mlpipe import (
    ComputeTarget,
    Experiment,
    Pipeline,
    PipelineEndpoint,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)

#: On a deployment: the notebook's published pipeline, and the one its endpoint starts with.
PUBLISHED = "nb_endpoints_pipeline"
ENDPOINT_PIPELINE = "nb_endpoints_first_version"


def build_pipeline(ws: Workspace) -> Pipeline:
    """A one-step pipeline."""
    aml_compute_target = "default"
    cluster = ComputeTarget(ws, aml_compute_target)
    print(f"compute target: {cluster.name}")

    folder = "endpoints_src/train"
    train = PythonScriptStep(
        name="Training_Step",
        script_name="train.py",
        compute_target=aml_compute_target,
        source_directory=folder,
    )
    return Pipeline(workspace=ws, steps=[train])


def publish(pipeline: Pipeline) -> PublishedPipeline:
    stamp = datetime.now().strftime("%m-%d-%Y-%H-%M")
    pipeline_name = stamp + "-Pipeline"
    published = pipeline.publish(name=pipeline_name, description=pipeline_name)
    print(f"published {published.id}")
    return published


def endpoint_cells(ws: Workspace, pipeline: Pipeline | PublishedPipeline, published: PublishedPipeline):
    """Make the endpoint, find it, read and change its versions, rename it."""
    made = PipelineEndpoint.publish(
        workspace=ws, name="PipelineEndpointTest", pipeline=pipeline, description="Test description Notebook"
    )
    print(made)

    by_name = PipelineEndpoint.get(workspace=ws, name="PipelineEndpointTest")
    by_name = PipelineEndpoint.get(workspace=ws, name="PipelineEndpointTest")
    by_id = PipelineEndpoint.get(workspace=ws, id=by_name.id)
    print(by_id)
    print(PipelineEndpoint.list(workspace=ws, active_only=True))

    print("default version", by_name.get_default_version())
    by_name.set_default_version("0")
    print(by_name.get_pipeline("0"))
    print(by_name.get_pipeline())
    by_name.add(published)
    by_name.set_default(published)
    for entry in by_name.list_versions():
        print(entry.version, entry.pipeline.id)
    print(by_name.list_pipelines(active_only=True))
    by_name.set_name(name="NewName")
    return made, by_name


def rest_urls(ws: Workspace) -> tuple[PipelineEndpoint, str, str]:
    """The endpoint's URL by id and by name, each for version "0"."""
    renamed = PipelineEndpoint.get(workspace=ws, name="NewName")
    by_id_url = renamed.endpoint
    version = "0"
    by_id_with_version = by_id_url + "/" + version
    print(by_id_with_version)
    by_name_url = by_id_url.split("Id", 1)[0] + "Name?name=" + renamed.name
    by_name_with_version = by_name_url + "&pipelineVersion=" + version
    print(by_name_with_version)
    return renamed, by_id_with_version, by_name_with_version


def call_rest_endpoint(ws: Workspace, url: str) -> str:
    """POST the notebook's body to the endpoint's URL; returns the new run's id."""
    bearer = {"Authorization": f"Bearer {ws.get_token()}"}
    answer = requests.post(
        url,
        headers=bearer,
        json={
            "ExperimentName": "default_pipeline",
            "RunSource": "SDK",
            "ParameterAssignments": {"1": "united", "2": "city"},
        },
    )
    try:
        answer.raise_for_status()
    except Exception as error:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.content!r}") from error
    run_id = answer.json().get("Id")
    print("submitted run", run_id)
    return run_id


def submit_cells(ws: Workspace, renamed: PipelineEndpoint):
    """Submit version "0", the default version, and version "0" again through an Experiment."""
    of_version = renamed.submit("NewName", pipeline_version="0")
    print(of_version)
    of_default = renamed.submit("NewName")
    print(of_default)
    tagged = Experiment(ws, name="submit_endpoint_sample").submit(
        renamed, tags={"endpoint_tag": "1"}, pipeline_version="0"
    )
    return of_version, of_default, tagged


def notebook():
    """The notebook on `Workspace.from_config()`, but for the REST cells (see the module docstring)."""
    ws = Workspace.from_config()
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    pipeline = build_pipeline(ws)
    published = publish(pipeline)
    made, _ = endpoint_cells(ws, pipeline, published)
    renamed, _, _ = rest_urls(ws)
    return (made, published, renamed, *submit_cells(ws, renamed))


def publish_in_dag_file() -> None:
    """On a deployment: the DAG file publishes the notebook's pipeline, and the endpoint's first one."""
    pipeline = build_pipeline(Workspace.from_config())
    pipeline.publish(name=PUBLISHED, description=PUBLISHED)
    pipeline.publish(
        name=ENDPOINT_PIPELINE, description="Published for pipeline endpoint PipelineEndpointTest"
    )


def notebook_on_deployment():
    """The notebook on a deployment, with the pipelines the DAG file published; the REST cells too."""
    ws = Workspace.from_config()
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    published = PublishedPipeline.get(ws, PUBLISHED)
    made, _ = endpoint_cells(ws, PublishedPipeline.get(ws, ENDPOINT_PIPELINE), published)
    renamed, _, by_name_with_version = rest_urls(ws)
    posted = call_rest_endpoint(ws, by_name_with_version)
    return (ws, made, published, renamed, posted, *submit_cells(ws, renamed))

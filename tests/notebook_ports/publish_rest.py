"""Port of `aml-pipelines-publish-and-run-using-rest-endpoint.ipynb` (intro-to-pipelines), as of
commit 75610ec3 (2019-11), its last version built on DataReference and PipelineData (later ones use
Dataset and OutputFileDatasetConfig, which are later issues).

The notebook's v1 calls, in its order, with its arguments. What differs, and why:

- Imports: `from airflow_provider_mlpipe import ...` instead of `azureml.core`,
  `azureml.core.compute`, `azureml.data.data_reference` and `azureml.pipeline.*`.
- Compute: the cell that gets or provisions the AmlCompute cluster "cpu-cluster" is
  `ComputeTarget(ws, "default")`: a step's compute target is an Airflow queue.
- REST auth: `InteractiveLoginAuthentication().get_authentication_header()` (an Azure AD token) is
  an Airflow bearer token header, `{"Authorization": f"Bearer {ws.get_token()}"}`; the POST itself
  is the notebook's.
- Folders: the notebook's `publish_run_<step>` folders are `publish_rest_src/<step>` (resolved next
  to the file that builds the pipeline: this module, or the deployment's DAG file).

Like the notebook, it reads `20newsgroups/20news.pkl` on "workspaceblobstore", which an earlier
notebook uploads. `notebook()` runs the notebook on `Workspace.from_config()` up to the REST cells:
they need the workspace's API server, which the embedded local Airflow does not run. On a
deployment, a notebook's Pipeline cannot be submitted or published yet (issue 17):
`publish_in_dag_file()` publishes "My_New_Pipeline" and "My_New_Pipeline2" from the DAG file, and
`notebook_on_deployment()` submits the first, gets it by id and calls its REST endpoint.
"""

from __future__ import annotations

import requests

from airflow_provider_mlpipe import (
    ComputeTarget,
    DataReference,
    Datastore,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PublishedPipeline,
    PythonScriptStep,
    Workspace,
)


def build_pipeline(ws: Workspace) -> Pipeline:
    """train -> extract -> compare, compare also taking the pipeline parameter."""
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    blob_store = Datastore(ws, "workspaceblobstore")
    print(f"blob datastore: {blob_store.name}")

    cluster = ComputeTarget(ws, "default")

    headlines = DataReference(
        datastore=blob_store, data_reference_name="test_data", path_on_datastore="20newsgroups/20news.pkl"
    )
    kept = PipelineData("processed_data1", datastore=blob_store)

    folder = "publish_rest_src/train"
    train = PythonScriptStep(
        script_name="train.py",
        arguments=["--input_data", headlines, "--output_train", kept],
        inputs=[headlines],
        outputs=[kept],
        compute_target=cluster,
        source_directory=folder,
    )
    print(f"step {train.name} made")

    firsts = PipelineData("processed_data2", datastore=blob_store)
    folder = "publish_rest_src/extract"
    extract = PythonScriptStep(
        script_name="extract.py",
        arguments=["--input_extract", kept, "--output_extract", firsts],
        inputs=[kept],
        outputs=[firsts],
        compute_target=cluster,
        source_directory=folder,
    )
    print(f"step {extract.name} made")

    argument = PipelineParameter(name="pipeline_arg", default_value=10)

    report = PipelineData("processed_data3", datastore=blob_store)
    folder = "publish_rest_src/compare"
    compare = PythonScriptStep(
        script_name="compare.py",
        arguments=[
            "--compare_data1",
            kept,
            "--compare_data2",
            firsts,
            "--output_compare",
            report,
            "--pipeline_param",
            argument,
        ],  # fmt: skip
        inputs=[kept, firsts],
        outputs=[report],
        compute_target=cluster,
        source_directory=folder,
    )

    return Pipeline(workspace=ws, steps=[compare])


def publish(pipeline: Pipeline) -> PublishedPipeline:
    return pipeline.publish(
        name="My_New_Pipeline", description="My Published Pipeline Description", continue_on_step_failure=True
    )


def submit_and_publish_the_run(ws: Workspace, pipeline: Pipeline):
    """Run the pipeline, then publish the pipeline of that run under another name."""
    run = Experiment(ws, "Pipeline_experiment").submit(pipeline)
    republished = run.publish_pipeline(
        name="My_New_Pipeline2",
        description="My Published Pipeline Description",
        version="0.1",
        continue_on_step_failure=True,
    )
    return run, republished


def get_published(ws: Workspace, published: PublishedPipeline) -> PublishedPipeline:
    return PublishedPipeline.get(ws, published.id)


def call_rest_endpoint(ws: Workspace, published: PublishedPipeline) -> str:
    """POST the notebook's body to the published pipeline's endpoint; returns the new run's id."""
    bearer = {"Authorization": f"Bearer {ws.get_token()}"}
    url = published.endpoint
    print(f"POST {url} submits the pipeline")
    answer = requests.post(
        url,
        headers=bearer,
        json={
            "ExperimentName": "My_Pipeline1",
            "RunSource": "SDK",
            "ParameterAssignments": {"pipeline_arg": 45},
        },
    )
    try:
        answer.raise_for_status()
    except Exception as error:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.content!r}") from error
    run_id = answer.json().get("Id")
    print("submitted run", run_id)
    return run_id


def notebook():
    """The notebook on `Workspace.from_config()` up to the REST cells (see the module docstring)."""
    ws = Workspace.from_config()
    pipeline = build_pipeline(ws)
    first = publish(pipeline)
    run, second = submit_and_publish_the_run(ws, pipeline)
    return run, first, second, get_published(ws, first)


def publish_in_dag_file() -> None:
    """On a deployment: the DAG file builds the pipeline and publishes it under both names."""
    pipeline = build_pipeline(Workspace.from_config())
    publish(pipeline)
    # The notebook's run.publish_pipeline(...) of "My_New_Pipeline2", done where it can be here.
    pipeline.publish(
        name="My_New_Pipeline2",
        description="My Published Pipeline Description",
        version="0.1",
        continue_on_step_failure=True,
    )


def notebook_on_deployment():
    """The notebook's cells on a deployment: submit the published pipeline, get it, call its endpoint."""
    ws = Workspace.from_config()
    first = PublishedPipeline.get(ws, "My_New_Pipeline")
    run = Experiment(ws, "Pipeline_experiment").submit(first)
    published = get_published(ws, first)
    return ws, run, published, call_rest_endpoint(ws, published)

"""Port of `aml-pipelines-showcasing-datapath-and-pipelineparameter.ipynb` (intro-to-pipelines, as of
commit 3228bbfc).

The notebook's v1 calls, in its order, with its arguments. What differs, and why:

- Imports: `from airflow_provider_mlpipe import ...` instead of `azureml.core`,
  `azureml.core.compute`, `azureml.data.datapath` and `azureml.pipeline.*`.
- Compute: the cell that finds or provisions the AmlCompute cluster "cpu-cluster" is
  `ComputeTarget(ws, "default")`: a step's compute target is an Airflow queue.
- Widget: the `RunDetails(run).show()` cells (azureml.widgets) are left out: each is followed by a
  cell that waits for the run with `wait_for_completion()`, which prints the same progress.
- REST auth: `InteractiveLoginAuthentication().get_authentication_header()` (an Azure AD token) is
  an Airflow bearer token header, `{"Authorization": f"Bearer {ws.get_token()}"}`; the POST itself
  is the notebook's.
- Folders: the notebook writes `train_with_datapath.py` into its own folder (`%%writefile`); this
  port's script is `datapath_src/train_with_datapath.py` (resolved next to the file that builds the
  pipeline: this module, or the deployment's DAG file).

Like the notebook, the DataPath parameter points at `sample_datapath1` (then 2, then 3) on the
default datastore, which the reader provides. `notebook()` runs the notebook on
`Workspace.from_config()` except the REST cells, which need the workspace's API server (the
embedded local Airflow runs none). On a deployment, a notebook's Pipeline cannot be submitted or
published yet (issue 17): `publish_in_dag_file()` publishes "DataPath_Pipeline" from the DAG file,
and `notebook_on_deployment()` runs the notebook's submissions, REST call and schedule on it.
"""

from __future__ import annotations

import requests

from airflow_provider_mlpipe import (
    ComputeTarget,
    DataPath,
    DataPathComputeBinding,
    Datastore,
    Experiment,
    Pipeline,
    PipelineParameter,
    PipelineRun,
    PublishedPipeline,
    PythonScriptStep,
    Schedule,
    Workspace,
)


def experiment_of(ws: Workspace) -> Experiment:
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    experiment = Experiment(ws, "showcasing-datapath")
    print(experiment)
    return experiment


def build_pipeline(ws: Workspace) -> tuple[Pipeline, Datastore]:
    """One step given a string parameter and a DataPath parameter, mounted."""
    folder = "datapath_src"

    amlcompute_cluster_name = "default"
    cluster = ComputeTarget(ws, amlcompute_cluster_name)

    default_store = ws.get_default_datastore()
    print(f"default datastore: {default_store.name}")
    first_path = DataPath(datastore=default_store, path_on_datastore="sample_datapath1")
    path_parameter = PipelineParameter(name="input_datapath", default_value=first_path)
    path_input = (path_parameter, DataPathComputeBinding(mode="mount"))
    text_parameter = PipelineParameter(name="input_string", default_value="sample_string1")

    step = PythonScriptStep(
        name="train_step",
        script_name="train_with_datapath.py",
        arguments=["--arg1", text_parameter, "--arg2", path_input],
        inputs=[path_input],
        compute_target=cluster,
        source_directory=folder,
    )
    print(f"step {step.name} made")
    return Pipeline(workspace=ws, steps=[step]), default_store


def submit_twice(experiment: Experiment, pipeline: Pipeline | PublishedPipeline, default_store: Datastore):
    """With the parameters' defaults, then with other values."""
    with_defaults = experiment.submit(pipeline)
    with_defaults.wait_for_completion()

    with_values = experiment.submit(
        pipeline,
        pipeline_parameters={
            "input_datapath": DataPath(datastore=default_store, path_on_datastore="sample_datapath2"),
            "input_string": "sample_string2",
        },
    )
    with_values.wait_for_completion()
    return with_defaults, with_values


def publish(pipeline: Pipeline) -> PublishedPipeline:
    return pipeline.publish(
        name="DataPath_Pipeline", description="Pipeline to test Datapath", continue_on_step_failure=True
    )


def call_rest_endpoint(ws: Workspace, published: PublishedPipeline, default_store: Datastore) -> PipelineRun:
    """POST a run with other parameter values to the published pipeline's endpoint; wait for it."""
    bearer = {"Authorization": f"Bearer {ws.get_token()}"}
    url = published.endpoint
    print(f"POST {url} submits the pipeline")
    answer = requests.post(
        url,
        headers=bearer,
        json={
            "ExperimentName": "MyRestPipeline",
            "RunSource": "SDK",
            "DataPathAssignments": {
                "input_datapath": {"DataStoreName": default_store.name, "RelativePath": "sample_datapath3"}
            },
            "ParameterAssignments": {"input_string": "sample_string3"},
        },
    )
    try:
        answer.raise_for_status()
    except Exception as error:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.content!r}") from error
    run_id = answer.json().get("Id")
    print("submitted run", run_id)
    posted = PipelineRun(ws.experiments["MyRestPipeline"], run_id)
    posted.wait_for_completion()
    return posted


def schedule_on_new_data(ws: Workspace, published: PublishedPipeline, default_store: Datastore) -> Schedule:
    """A schedule that runs the pipeline on each new file under a folder, the file as DataPath."""
    on_data = Schedule.create(
        workspace=ws,
        name="Datastore_trigger_schedule",
        pipeline_id=published.id,
        experiment_name="Scheduled_Pipeline",
        datastore=default_store,
        wait_for_provisioning=True,
        description="Datastore trigger schedule demo",
        path_on_datastore="sample_datapath_for_folder",
        data_path_parameter_name="input_datapath",
    )
    print(f"made schedule {on_data.id}")
    on_data.disable()
    print(on_data)
    return on_data


def notebook() -> dict[str, object]:
    """The notebook on `Workspace.from_config()`, but for the REST cells (see the module docstring)."""
    ws = Workspace.from_config()
    experiment = experiment_of(ws)
    pipeline, default_store = build_pipeline(ws)
    with_defaults, with_values = submit_twice(experiment, pipeline, default_store)
    published = publish(pipeline)
    return {
        "with_defaults": with_defaults,
        "with_values": with_values,
        "published": published,
        "schedule": schedule_on_new_data(ws, published, default_store),
    }


def publish_in_dag_file() -> None:
    """On a deployment: the DAG file builds the notebook's pipeline and publishes it."""
    pipeline, _ = build_pipeline(Workspace.from_config())
    publish(pipeline)


def notebook_on_deployment() -> dict[str, object]:
    """The notebook on a deployment, with the pipeline the DAG file published."""
    ws = Workspace.from_config()
    experiment = experiment_of(ws)
    default_store = ws.get_default_datastore()  # the DAG file's, made here too
    published = PublishedPipeline.get(ws, "DataPath_Pipeline")
    with_defaults, with_values = submit_twice(experiment, published, default_store)
    return {
        "with_defaults": with_defaults,
        "with_values": with_values,
        "published": published,
        "posted": call_rest_endpoint(ws, published, default_store),
        "schedule": schedule_on_new_data(ws, published, default_store),
    }

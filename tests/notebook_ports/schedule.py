"""Port of `aml-pipelines-setup-schedule-for-a-published-pipeline.ipynb` (intro-to-pipelines, as of
commit 3228bbfc).

The notebook's v1 calls, in its order, with its arguments. What differs, and why:

- Imports: `from airflow_provider_mlpipe import ...` instead of `azureml.core`,
  `azureml.core.compute` and `azureml.pipeline.*`.
- Compute: the compute cell's target "cpu-cluster" (got or provisioned as AmlCompute) is the Airflow
  queue "default", got as `ComputeTarget(ws, aml_compute_target)`; the step names it, as the
  notebook's does.
- Folders: the notebook's `publish_run_train` is `schedule_src/train` (resolved next to the file
  that builds the pipeline: this module, or the deployment's DAG file).

As in the notebook, the schedules submit the last published pipeline `PublishedPipeline.list` gives;
no schedule comes due while the notebook runs (every other day at 22:30, every two hours, or on a
change to the datastore, disabled at once). `notebook()` is the whole notebook on
`Workspace.from_config()`. On a deployment, a notebook's Pipeline cannot be published yet (issue
17): `publish_in_dag_file()` publishes the pipeline from the DAG file (as `pipeline.publish(...)`
does, and as `PipelineEndpoint.publish` does for a Pipeline), and `notebook_on_deployment()` runs
the notebook with those published pipelines.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_mlpipe import (
    ComputeTarget,
    Datastore,
    Pipeline,
    PipelineEndpoint,
    PublishedPipeline,
    PythonScriptStep,
    Schedule,
    ScheduleRecurrence,
    Workspace,
)

#: On a deployment: the notebook's published pipeline, and the one its endpoint starts with.
PUBLISHED = "nb_schedule_pipeline"
ENDPOINT_PIPELINE = "nb_schedule_endpoint_version"


def build_pipeline(ws: Workspace) -> Pipeline:
    """A one-step pipeline."""
    aml_compute_target = "default"
    cluster = ComputeTarget(ws, aml_compute_target)
    print(f"compute target: {cluster.name}")

    folder = "schedule_src/train"
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


def schedule_cells(ws: Workspace, pipeline: Pipeline | PublishedPipeline) -> dict[str, object]:
    """Everything after publishing: the endpoint, then the schedules and their changes."""
    endpoint = PipelineEndpoint.publish(
        workspace=ws,
        name="ScheduledPipelineEndpoint",
        pipeline=pipeline,
        description="Publish pipeline endpoint for schedule test",
    )
    print(endpoint)

    for found in PublishedPipeline.list(ws):
        print(found.id)
        target_id = found.id  # the last one listed is scheduled
    print(f"scheduling {target_id}")

    every_other_day = ScheduleRecurrence(frequency="Day", interval=2, hours=[22], minutes=[30])
    by_time = Schedule.create(
        workspace=ws,
        name="My_Schedule",
        pipeline_id=target_id,
        experiment_name="Schedule-run-sample",
        recurrence=every_other_day,
        wait_for_provisioning=True,
        description="Schedule Run",
    )
    print(f"made schedule {by_time.id}")

    for found in Schedule.list(ws, pipeline_id=target_id):
        print(found.id)
        if found.recurrence is not None:
            timed_id = found.id
    for found in Schedule.list(ws, active_only=True):
        print(f"{found.id} submits {found.pipeline_id}")

    current = Schedule.get(ws, timed_id)
    current.disable(wait_for_provisioning=True)
    current = Schedule.get(ws, timed_id)
    after_disable = current.status
    print(f"{current.id} is {current.status}")
    current.enable(wait_for_provisioning=True)
    current = Schedule.get(ws, timed_id)
    after_enable = current.status
    print(f"{current.id} is {current.status}")

    every_two_hours = ScheduleRecurrence(frequency="Hour", interval=2)
    current = Schedule.get(ws, timed_id)
    current.update(
        name="My_Updated_Schedule",
        description="Updated_Schedule_Run",
        status="Active",
        wait_for_provisioning=True,
        recurrence=every_two_hours,
    )
    current = Schedule.get(ws, current.id)
    updated = current
    print(current.id, current.name, current.recurrence.frequency, current.status)

    store = Datastore(workspace=ws, name="workspaceblobstore")
    on_data = Schedule.create(
        workspace=ws,
        name="My_Schedule",
        pipeline_id=target_id,
        experiment_name="Schedule-run-sample",
        datastore=store,
        wait_for_provisioning=True,
        description="Schedule Run",
    )
    print(f"made schedule {on_data.id}")
    on_data.disable(wait_for_provisioning=True)
    data_schedule = on_data
    on_data = Schedule.get(ws, timed_id)
    print(f"{on_data.id} is {on_data.status}")

    endpoint = PipelineEndpoint.get(workspace=ws, name="ScheduledPipelineEndpoint")
    endpoint_id = endpoint.id
    every_other_day = ScheduleRecurrence(frequency="Day", interval=2, hours=[22], minutes=[30])
    for_endpoint = Schedule.create_for_pipeline_endpoint(
        workspace=ws,
        name="My_Endpoint_Schedule",
        pipeline_endpoint_id=endpoint_id,
        experiment_name="Schedule-run-sample",
        recurrence=every_other_day,
        description="Schedule_Run",
        wait_for_provisioning=True,
    )
    print(f"made schedule {for_endpoint.id}")
    of_endpoint = Schedule.get_schedules_for_pipeline_endpoint_id(ws, pipeline_endpoint_id=endpoint_id)
    print(f"{len(of_endpoint)} schedule(s) for endpoint {endpoint_id}")

    current = Schedule.get(ws, timed_id)
    current.disable(wait_for_provisioning=True)
    current = Schedule.get(ws, timed_id)
    print(f"{current.id} is {current.status}")
    return {
        "endpoint": endpoint,
        "target_id": target_id,
        "after_disable": after_disable,
        "after_enable": after_enable,
        "updated": updated,
        "data_schedule": data_schedule,
        "for_endpoint": for_endpoint,
        "of_endpoint": of_endpoint,
        "final": current,
    }


def notebook() -> dict[str, object]:
    """The notebook top to bottom on `Workspace.from_config()`."""
    ws = Workspace.from_config()
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    pipeline = build_pipeline(ws)
    return {"published": publish(pipeline), **schedule_cells(ws, pipeline)}


def publish_in_dag_file() -> None:
    """On a deployment: the DAG file publishes the notebook's pipeline, and the endpoint's first one."""
    pipeline = build_pipeline(Workspace.from_config())
    pipeline.publish(name=PUBLISHED, description=PUBLISHED)
    pipeline.publish(
        name=ENDPOINT_PIPELINE, description="Published for pipeline endpoint ScheduledPipelineEndpoint"
    )


def notebook_on_deployment() -> dict[str, object]:
    """The notebook on a deployment, with the pipelines the DAG file published."""
    ws = Workspace.from_config()
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
    published = PublishedPipeline.get(ws, PUBLISHED)
    return {"published": published, **schedule_cells(ws, PublishedPipeline.get(ws, ENDPOINT_PIPELINE))}

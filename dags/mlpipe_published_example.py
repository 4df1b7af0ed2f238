"""A published pipeline (v1's `publish_pipeline`): the README's REST and Python client examples submit it.

`My_Published_Pipeline` summarises the example's wine data, bound per run through the DataPath
parameter `input_data` (v1's `DataPathAssignments`); `pipeline_arg` is how many of the strongest
wines the summary lists. It is active as soon as Airflow has parsed it. Before the first run, put
the input data on the datastore: `make data` (`make demo` does it too).
"""

from airflow_provider_mlpipe import (
    DataPath,
    DataPathComputeBinding,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)

def_data_store = Datastore.default()
input_data = PipelineParameter(
    name="input_data",
    default_value=DataPath(datastore=def_data_store, path_on_datastore="compare_models/wine.csv"),
)
input_binding = (input_data, DataPathComputeBinding(mode="mount"))
pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)
summary = PipelineData("summary", datastore=def_data_store)

summarizeStep = PythonScriptStep(
    name="summarize",
    script_name="summarize.py",
    arguments=["--data", input_binding, "--top", pipeline_param, "--output", summary],
    inputs=[input_binding],
    outputs=[summary],
    source_directory="published_example",  # relative to this DAG file
)

pipeline1 = Pipeline(
    steps=[summarizeStep],
    description="Summarise the wine data: rows, mean alcohol per class, the strongest wines.",
)
published_pipeline1 = pipeline1.publish(
    "My_Published_Pipeline", description="My Published Pipeline Description", version="1.0"
)

"""The Azure ML v1 how-to's pipeline (train -> extract -> compare), ported by changing imports.

Before the first run, put the input data on the datastore (the how-to's `upload_files`):
`python dags/compare_models/prepare_data.py` (`make demo` does it for you).
"""

from airflow_provider_mlpipe import (
    DataReference,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)

project_folder = "compare_models"  # relative to this DAG file
def_data_store = Datastore.default()

blob_input_data = DataReference(
    datastore=def_data_store,
    data_reference_name="test_data",
    path_on_datastore="compare_models/wine.csv",
)
output_data1 = PipelineData("output_data1", datastore=def_data_store, output_name="output_data1")
output_data2 = PipelineData("output_data2", datastore=def_data_store)
out_data3 = PipelineData("out_data3", datastore=def_data_store)
pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)

trainStep = PythonScriptStep(
    name="train",
    script_name="train.py",
    arguments=["--input", blob_input_data, "--output", output_data1],
    inputs=[blob_input_data],
    outputs=[output_data1],
    source_directory=project_folder,
)
extractStep = PythonScriptStep(
    name="extract",
    script_name="extract.py",
    arguments=["--input_data", output_data1, "--output_data", output_data2],
    inputs=[output_data1],
    outputs=[output_data2],
    source_directory=project_folder,
)
compareStep = PythonScriptStep(
    name="compare",
    script_name="compare.py",
    arguments=[
        "--comp_data1",
        output_data1,
        "--comp_data2",
        output_data2,
        "--output_data",
        out_data3,
        "--param1",
        pipeline_param,
    ],
    inputs=[output_data1, output_data2],
    outputs=[out_data3],
    source_directory=project_folder,
)

compareModels = [trainStep, extractStep, compareStep]
pipeline1 = Pipeline(
    steps=[compareModels],
    description="Compare models: train two classifiers on the wine data, score them, keep the best.",
)
dag = pipeline1.to_dag("mlpipe_compare_models", tags=["mlpipe", "example"])

"""PythonScriptStep -> DatabricksStep -> PythonScriptStep: prepare, featurize on Databricks, report.

The Databricks step runs `databricks_example/featurize.py` (uploaded to DBFS) on a new job
cluster of the workspace named by the Airflow connection `databricks_default`. Its input and
output reach the run as datastore URIs; use a Blob datastore with a real workspace.
"""

from airflow_provider_mlpipe import (
    DatabricksStep,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)

source = "databricks_example"  # relative to this DAG file
prepared = PipelineData("prepared")
features = PipelineData("features")
report = PipelineData("report")
scale = PipelineParameter("scale", 1.0)

prep = PythonScriptStep(
    name="prep",
    script_name="prep.py",
    arguments=["--output", prepared],
    outputs=[prepared],
    source_directory=source,
)
featurize = DatabricksStep(
    name="featurize",
    python_script_name="featurize.py",
    source_directory=source,
    python_script_params=["--scale", scale],
    inputs=[prepared],
    outputs=[features],
    num_workers=1,
    spark_version="15.4.x-scala2.12",
    pypi_libraries=[],
    compute_target="databricks_default",
    run_name="mlpipe featurize",
    timeout_seconds=3600,
)
summarize = PythonScriptStep(
    name="report",
    script_name="report.py",
    arguments=["--features", features, "--output", report],
    inputs=[features],
    outputs=[report],
    source_directory=source,
)

dag = Pipeline(
    [prep, featurize, summarize],
    description="Prepare data, featurize it on Databricks, report on the features.",
).to_dag("mlpipe_databricks_example", tags=["mlpipe", "example", "databricks"])

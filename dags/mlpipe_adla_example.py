"""PythonScriptStep -> AdlaStep -> PythonScriptStep: a U-SQL step between two Python steps.

Azure Data Lake Analytics was retired by Microsoft on 2024-02-29: this example is for accounts
in clouds that still run it and for migration tests (see the README for porting a U-SQL step
to DatabricksStep). The ADLA account is the Airflow connection `adla_default`.
"""

from airflow_provider_mlpipe import AdlaStep, Pipeline, PipelineData, PipelineParameter, PythonScriptStep

source = "adla_example"  # relative to this DAG file
prepared = PipelineData("prepared")
summary = PipelineData("summary")
report = PipelineData("report")
min_alcohol = PipelineParameter("min_alcohol", 11.0)

prep = PythonScriptStep(
    name="prep",
    script_name="prep.py",
    arguments=["--output", prepared],
    outputs=[prepared],
    source_directory=source,
)
summarize = AdlaStep(
    name="summarize",
    script_name="summarize.usql",
    source_directory=source,
    inputs=[prepared],
    outputs=[summary],
    params={"min_alcohol": min_alcohol},
    degree_of_parallelism=2,
    priority=100,
    compute_target="adla_default",
)
summarize_report = PythonScriptStep(
    name="report",
    script_name="report.py",
    arguments=["--summary", summary, "--output", report],
    inputs=[summary],
    outputs=[report],
    source_directory=source,
)

dag = Pipeline(
    [prep, summarize, summarize_report], description="Prepare data, summarise it with U-SQL on ADLA, report."
).to_dag("mlpipe_adla_example", tags=["mlpipe", "example", "adla"])

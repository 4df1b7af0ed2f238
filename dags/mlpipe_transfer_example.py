"""DataTransferStep -> PythonScriptStep: copy the example's input folder, then read the copy.

Before the first run, put the input data on the datastore: `python dags/compare_models/prepare_data.py`
(`make demo` does it). With Blob datastores on one account the copy is server-side.
"""

from airflow_provider_mlpipe import (
    DataReference,
    Datastore,
    DataTransferStep,
    Pipeline,
    PipelineData,
    PythonScriptStep,
)

store = Datastore.default()
raw = DataReference(store, "raw", "compare_models")
raw_copy = PipelineData("raw_copy", datastore=store)
rows = PipelineData("rows")

copy_raw = DataTransferStep(
    name="copy_raw",
    source_data_reference=raw,
    destination_data_reference=raw_copy,
    source_reference_type="directory",
)
count = PythonScriptStep(
    name="count_rows",
    script_name="count_rows.py",
    arguments=["--copied", copy_raw.get_output(), "--output", rows],
    inputs=[copy_raw.get_output()],
    outputs=[rows],
    source_directory="transfer_example",
)

dag = Pipeline([copy_raw, count], description="Copy a folder between datastores, then read the copy.").to_dag(
    "mlpipe_transfer_example", tags=["mlpipe", "example"]
)

"""v1 names this provider does not offer, each with why and what to use instead.

`from airflow_provider_mlpipe import <one of these>` raises `ImportError` with that text (see the
package's `__getattr__`), and the README's "Porting from v1" table lists them (a test keeps both
in step).
"""

from __future__ import annotations

#: v1 name -> why it is not here, and what to do instead.
NOT_AVAILABLE: dict[str, str] = {
    "AutoMLStep": (
        "AutoML is an Azure ML service; there is no AutoML here. Train with your own script in a "
        "PythonScriptStep (or a DatabricksStep)"
    ),
    "HyperDriveStep": (
        "HyperDrive is an Azure ML service. Sweep with Airflow's dynamic task mapping over a "
        "PythonScriptStep's parameters, or a tuning library inside one step"
    ),
    "EstimatorStep": (
        "Estimators were deprecated in v1 itself. Use PythonScriptStep with the script and arguments "
        "the estimator held"
    ),
    "MpiStep": "MPI jobs need a cluster scheduler; run distributed training in a DatabricksStep",
    "ModuleStep": (
        "Modules are Azure ML's versioned step registry. Put the step in a shared Python package and "
        "build it with PythonScriptStep"
    ),
    "Module": "Modules are Azure ML's versioned step registry; see ModuleStep",
    "ModuleVersion": "Modules are Azure ML's versioned step registry; see ModuleStep",
    "AzureBatchStep": (
        "Azure Batch is not wrapped; run the executable from a PythonScriptStep on a worker queue"
    ),
    "KustoStep": (
        "Kusto is not wrapped; query it from a PythonScriptStep (azure-kusto-data) with an Airflow connection"
    ),
    "SynapseSparkStep": "Synapse Spark is not wrapped; run Spark work in a DatabricksStep",
    "HDInsightStep": "HDInsight is not wrapped; run Spark work in a DatabricksStep",
    "RScriptStep": "not available yet (planned with CommandStep); run Rscript from a PythonScriptStep",
    "NotebookRunnerStep": "run the notebook with papermill from a PythonScriptStep",
    "PipelineDraft": "drafts are an Azure ML studio feature; keep the pipeline's DAG file in version control",
    "AmlCompute": (
        "compute is Airflow's workers here: a step's compute_target names an Airflow queue (or a "
        "Databricks / Data Lake Analytics connection); see Workspace.compute_targets"
    ),
    "ComputeInstance": "compute is Airflow's workers here; see AmlCompute",
    "InteractiveLoginAuthentication": (
        "a remote workspace signs in to Airflow's API server: Workspace.connect(url, username=..., "
        "password=...) or a token, or Workspace.from_config() with MLPIPE_AIRFLOW_PASSWORD/_TOKEN"
    ),
    "ServicePrincipalAuthentication": "see InteractiveLoginAuthentication",
    "Dataset": "not available yet (planned); pass data as DataReference, DataPath or PipelineData",
    "OutputFileDatasetConfig": "not available yet (planned with Dataset); write outputs to PipelineData",
    "Environment": (
        "step environments are not available yet (planned); give PythonScriptStep(python_interpreter=...) "
        "a prepared virtual environment's python"
    ),
    "RunConfiguration": "see Environment",
    "CondaDependencies": "see Environment",
    "ScriptRunConfig": "see Environment",
    "CommandStep": "not available yet (planned); run the command from a PythonScriptStep",
    "ParallelRunStep": "not available yet (planned); fan out with Airflow's dynamic task mapping",
    "ParallelRunConfig": "see ParallelRunStep",
    "Model": "not available yet (planned); keep model files on a datastore (PipelineData outputs)",
}

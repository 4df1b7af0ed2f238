"""`DatabricksStep` and its libraries: v1's parse-time errors, defaults and the Jobs API JSON it describes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe import (
    DatabricksStep,
    DataReference,
    Datastore,
    EggLibrary,
    JarLibrary,
    MavenLibrary,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PyPiLibrary,
    PythonScriptStep,
    RCranLibrary,
    WheelLibrary,
)

#: A script that exists beside this DAG-defining file: the test module itself.
THIS_FILE = Path(__file__).name


NOTEBOOK = {"notebook_path": "/Users/me/prep"}
CLUSTER = {"existing_cluster_id": "0101-abc"}


def notebook_step(name: str = "nb", **kwargs) -> DatabricksStep:
    return DatabricksStep(name=name, **{**NOTEBOOK, **CLUSTER, **kwargs})


# -- package root and libraries -------------------------------------------------------------


def test_package_root_exports_the_databricks_names():
    for name in (
        "DatabricksStep",
        "MavenLibrary",
        "PyPiLibrary",
        "RCranLibrary",
        "JarLibrary",
        "EggLibrary",
        "WheelLibrary",
    ):
        assert getattr(mlpipe, name).__name__ == name
        assert name in mlpipe.__all__


@pytest.mark.parametrize(
    ("library", "api"),
    [
        (MavenLibrary("com.example:lib:1.0"), {"maven": {"coordinates": "com.example:lib:1.0"}}),
        (
            MavenLibrary("com.example:lib:1.0", repo="https://repo.example", exclusions=["org.slf4j:slf4j"]),
            {
                "maven": {
                    "coordinates": "com.example:lib:1.0",
                    "repo": "https://repo.example",
                    "exclusions": ["org.slf4j:slf4j"],
                }
            },
        ),
        (PyPiLibrary("pandas==2.2.2"), {"pypi": {"package": "pandas==2.2.2"}}),
        (
            PyPiLibrary("private", repo="https://pypi.example/simple"),
            {"pypi": {"package": "private", "repo": "https://pypi.example/simple"}},
        ),
        (RCranLibrary("forecast"), {"cran": {"package": "forecast"}}),
        (
            RCranLibrary("forecast", repo="https://cran.example"),
            {"cran": {"package": "forecast", "repo": "https://cran.example"}},
        ),
        (JarLibrary("dbfs:/jars/app.jar"), {"jar": "dbfs:/jars/app.jar"}),
        (EggLibrary("dbfs:/eggs/lib.egg"), {"egg": "dbfs:/eggs/lib.egg"}),
        (
            WheelLibrary("dbfs:/wheels/lib-1.0-py3-none-any.whl"),
            {"whl": "dbfs:/wheels/lib-1.0-py3-none-any.whl"},
        ),
    ],
)
def test_library_api_json(library, api):
    assert library.to_api() == api


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: MavenLibrary(""), "MavenLibrary: coordinates"),
        (lambda: MavenLibrary("g:a:1", exclusions=[""]), "MavenLibrary: each exclusion"),
        (lambda: MavenLibrary("g:a:1", exclusions="g:x"), "MavenLibrary: exclusions"),
        (lambda: PyPiLibrary(None), "PyPiLibrary: package"),
        (lambda: PyPiLibrary("x", repo=3), "PyPiLibrary: repo"),
        (lambda: RCranLibrary("  "), "RCranLibrary: package"),
        (lambda: JarLibrary(""), "JarLibrary: library"),
        (lambda: EggLibrary(None), "EggLibrary: library"),
        (lambda: WheelLibrary(""), "WheelLibrary: library"),
    ],
)
def test_library_required_fields(make, words):
    with pytest.raises(ValueError, match=words):
        make()


# -- v1's parse-time errors -----------------------------------------------------------------

NEW = {"num_workers": 2}

INVALID = [
    # exactly one task kind
    pytest.param({**CLUSTER}, ValueError, ["exactly one of notebook_path", "got none"], id="no-task"),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "python_script_path": "dbfs:/a.py"},
        ValueError,
        ["exactly one of", "notebook_path, python_script_path"],
        id="two-tasks",
    ),
    pytest.param(
        {**CLUSTER, "main_class_name": "Main", "python_script_name": "a.py", "source_directory": "."},
        ValueError,
        ["exactly one of", "python_script_name, main_class_name"],
        id="script-and-jar",
    ),
    # parameters only with their task kind
    pytest.param(
        {**CLUSTER, "python_script_path": "dbfs:/a.py", "notebook_params": {"a": "1"}},
        ValueError,
        ["notebook_params can only be used with notebook_path"],
        id="notebook-params-without-notebook",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "python_script_params": ["--a"]},
        ValueError,
        ["python_script_params can only be used with python_script_path or python_script_name"],
        id="script-params-without-script",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "jar_params": ["a"]},
        ValueError,
        ["jar_params can only be used with main_class_name"],
        id="jar-params-without-jar",
    ),
    # paths
    pytest.param(
        {**CLUSTER, "python_script_name": "train.py"},
        ValueError,
        ["python_script_name needs source_directory"],
        id="script-name-without-source-directory",
    ),
    pytest.param(
        {**CLUSTER, "python_script_name": "/abs/train.py", "source_directory": "src"},
        ValueError,
        ["python_script_name must be relative to source_directory"],
        id="script-name-absolute",
    ),
    pytest.param(
        {**CLUSTER, "python_script_name": "../train.py", "source_directory": "src"},
        ValueError,
        ["python_script_name must be relative to source_directory"],
        id="script-name-outside-source-directory",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "source_directory": "src"},
        ValueError,
        ["source_directory is only used with python_script_name"],
        id="source-directory-without-script-name",
    ),
    pytest.param(
        {**CLUSTER, "python_script_path": "/local/train.py"},
        ValueError,
        ["python_script_path must be a DBFS path", "dbfs:/"],
        id="script-path-not-dbfs",
    ),
    pytest.param(
        {**CLUSTER, "notebook_path": "Users/me/prep"},
        ValueError,
        ["notebook_path must be an absolute", "'Users/me/prep'"],
        id="notebook-path-relative",
    ),
    pytest.param(
        {**CLUSTER, "notebook_path": ""},
        ValueError,
        ["notebook_path must be a non-empty string"],
        id="notebook-path-empty",
    ),
    # existing cluster versus new cluster
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "spark_version": "13.3.x-scala2.12", "num_workers": 0},
        ValueError,
        ["existing_cluster_id excludes the new-cluster arguments", "spark_version, num_workers"],
        id="existing-cluster-and-new-cluster-fields",
    ),
    pytest.param(
        {
            **CLUSTER,
            **NOTEBOOK,
            "spark_conf": {"a": "b"},
            "init_scripts": ["dbfs:/init.sh"],
            "cluster_log_dbfs_path": "dbfs:/logs",
        },
        ValueError,
        ["existing_cluster_id excludes", "spark_conf, init_scripts, cluster_log_dbfs_path"],
        id="existing-cluster-and-cluster-settings",
    ),
    pytest.param(
        {**NOTEBOOK, **NEW, "permit_cluster_restart": True},
        ValueError,
        ["permit_cluster_restart can only be used with existing_cluster_id"],
        id="permit-restart-without-existing-cluster",
    ),
    pytest.param(
        {**NOTEBOOK, **NEW, "node_type": "Standard_D3_v2", "instance_pool_id": "pool-1"},
        ValueError,
        ["give node_type or instance_pool_id, not both"],
        id="node-type-and-pool",
    ),
    pytest.param(
        {**NOTEBOOK, "num_workers": 2, "min_workers": 1, "max_workers": 3},
        ValueError,
        ["either num_workers or min_workers and max_workers", "not both"],
        id="num-workers-and-autoscale",
    ),
    pytest.param(
        {**NOTEBOOK},
        ValueError,
        ["a new cluster needs num_workers or min_workers and max_workers"],
        id="no-workers",
    ),
    pytest.param(
        {**NOTEBOOK, "min_workers": 1},
        ValueError,
        ["autoscale needs both min_workers and max_workers", "max_workers is missing"],
        id="only-min-workers",
    ),
    pytest.param(
        {**NOTEBOOK, "max_workers": 4},
        ValueError,
        ["autoscale needs both", "min_workers is missing"],
        id="only-max-workers",
    ),
    pytest.param(
        {**NOTEBOOK, "min_workers": 5, "max_workers": 2},
        ValueError,
        ["min_workers (5) is greater than max_workers (2)"],
        id="min-above-max",
    ),
    pytest.param(
        {**NOTEBOOK, "num_workers": -1},
        ValueError,
        ["num_workers must not be negative"],
        id="negative-num-workers",
    ),
    pytest.param(
        {**NOTEBOOK, "min_workers": -1, "max_workers": 2},
        ValueError,
        ["min_workers must not be negative"],
        id="negative-min-workers",
    ),
    pytest.param(
        {**NOTEBOOK, "num_workers": "2"},
        TypeError,
        ["num_workers must be an int"],
        id="num-workers-not-int",
    ),
    pytest.param(
        {**NOTEBOOK, **NEW, "init_scripts": ["/local/init.sh"]},
        ValueError,
        ["init_scripts entry must be a DBFS path"],
        id="init-script-not-dbfs",
    ),
    pytest.param(
        {**NOTEBOOK, **NEW, "cluster_log_dbfs_path": "logs"},
        ValueError,
        ["cluster_log_dbfs_path must be a DBFS path"],
        id="cluster-log-not-dbfs",
    ),
    pytest.param(
        {**NOTEBOOK, **NEW, "spark_conf": {"spark.executor.cores": 4}},
        TypeError,
        ["spark_conf must map non-empty strings to strings"],
        id="spark-conf-not-strings",
    ),
    # run settings
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "timeout_seconds": 0},
        ValueError,
        ["timeout_seconds must be a positive int"],
        id="timeout-zero",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "timeout_seconds": 1.5},
        ValueError,
        ["timeout_seconds must be a positive int"],
        id="timeout-not-int",
    ),
    # libraries
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "pypi_libraries": [MavenLibrary("g:a:1")]},
        TypeError,
        ["pypi_libraries takes PyPiLibrary objects"],
        id="wrong-library-class",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "jar_libraries": ["dbfs:/a.jar"]},
        TypeError,
        ["jar_libraries takes JarLibrary objects"],
        id="library-as-string",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "wheel_libraries": WheelLibrary("dbfs:/a.whl")},
        TypeError,
        ["wheel_libraries must be a list of WheelLibrary"],
        id="library-not-in-a-list",
    ),
    # parameters
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "notebook_params": {"a": [1, 2]}},
        TypeError,
        ["notebook_params['a']", "not a string, number, bool or PipelineParameter"],
        id="notebook-param-of-a-wrong-type",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "notebook_params": {"a": PipelineData("d")}},
        TypeError,
        ["notebook_params['a'] is a data object", "inputs or outputs"],
        id="data-in-notebook-params",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "outputs": [PipelineData("result")], "notebook_params": {"result": "x"}},
        ValueError,
        ["notebook_params key 'result' is also the name of an input or output"],
        id="notebook-param-named-like-an-output",
    ),
    pytest.param(
        {**CLUSTER, "python_script_path": "dbfs:/a.py", "python_script_params": "--a 1"},
        TypeError,
        ["python_script_params must be a list"],
        id="script-params-not-a-list",
    ),
    # connection
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "compute_target": 42},
        TypeError,
        ["compute_target must be the Airflow connection id"],
        id="compute-target-not-a-name",
    ),
    # inputs and outputs: the base class's checks
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "inputs": ["raw.csv"]},
        TypeError,
        ["input 'raw.csv' is not a DataReference or PipelineData"],
        id="input-not-data",
    ),
    pytest.param(
        {**CLUSTER, **NOTEBOOK, "outputs": [PipelineData("a"), PipelineData("a")]},
        ValueError,
        ["two outputs are named 'a'"],
        id="two-outputs-one-name",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "words"), INVALID)
def test_v1_validation_errors_are_raised_when_the_step_is_made(kwargs, error, words):
    with pytest.raises(error) as raised:
        DatabricksStep(name="prep data", **kwargs)
    message = str(raised.value)
    assert "'prep data'" in message
    for word in words:
        assert word in message


def test_a_refused_step_is_not_registered_as_producer_of_its_outputs():
    data = PipelineData("d")
    with pytest.raises(ValueError):
        DatabricksStep(name="bad", outputs=[data], **NOTEBOOK)  # no cluster size
    assert data.producers == []


def test_name_is_required():
    with pytest.raises(ValueError, match="DatabricksStep: name must be a non-empty string"):
        DatabricksStep(name="", **NOTEBOOK, **CLUSTER)


def test_arguments_are_not_a_databricks_step_argument():
    with pytest.raises(TypeError, match="arguments"):
        DatabricksStep(name="nb", arguments=["--a"], **NOTEBOOK, **CLUSTER)


def test_hash_paths_is_deprecated_and_runconfig_ignored():
    with pytest.warns(DeprecationWarning, match="step 'nb': hash_paths is deprecated"):
        notebook_step(hash_paths=["x.py"])
    with pytest.warns(UserWarning, match="step 'nb': runconfig is ignored"):
        notebook_step(runconfig=object())


# -- defaults -------------------------------------------------------------------------------


def test_new_cluster_defaults_of_v1():
    step = DatabricksStep(name="nb", num_workers=1, **NOTEBOOK)
    assert (step.spark_version, step.node_type, step.instance_pool_id) == (
        "10.4.x-scala2.12",
        "Standard_D3_v2",
        None,
    )
    assert step.existing_cluster_id is None and step.permit_cluster_restart is None


def test_instance_pool_replaces_the_default_node_type():
    step = DatabricksStep(name="nb", num_workers=1, instance_pool_id="pool-1", **NOTEBOOK)
    assert (step.node_type, step.instance_pool_id) == (None, "pool-1")


def test_existing_cluster_has_no_new_cluster_defaults():
    step = notebook_step(permit_cluster_restart=True)
    assert (step.spark_version, step.node_type, step.permit_cluster_restart) == (None, None, True)


def test_step_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = notebook_step()
    assert step.kind == "DatabricksStep"
    assert step.allow_reuse is True and step.version is None
    assert step.run_name == "nb" and step.timeout_seconds is None
    assert step.arguments == [] and step.libraries_spec() == []


def test_compute_target_is_the_databricks_connection_not_a_queue():
    class Workspace:
        name = "dbx_prod"

    assert notebook_step().databricks_conn_id == "databricks_default"
    assert notebook_step(compute_target="dbx_dev").databricks_conn_id == "dbx_dev"
    step = notebook_step(compute_target=Workspace())
    assert step.databricks_conn_id == "dbx_prod" and step.compute_target is None


# -- what the runtime submits ---------------------------------------------------------------


def test_notebook_task_on_an_existing_cluster():
    rate = PipelineParameter("rate", 0.1)
    step = notebook_step(
        notebook_params={"epochs": 3, "mode": "full", "rate": rate},
        run_name="prep run",
        timeout_seconds=600,
    )
    assert step.task_spec() == {
        "kind": "notebook",
        "notebook_path": "/Users/me/prep",
        "base_parameters": {"epochs": "3", "mode": "full", "rate": {"parameter": "rate"}},
    }
    assert step.cluster_spec() == {"existing_cluster_id": "0101-abc"}
    assert (step.run_name, step.timeout_seconds) == ("prep run", 600)
    assert step.parameters() == [rate]
    json.dumps([step.task_spec(), step.cluster_spec(), step.libraries_spec()])


def test_python_file_on_dbfs_on_a_fixed_size_new_cluster():
    step = DatabricksStep(
        name="train",
        python_script_path="dbfs:/scripts/train.py",
        python_script_params=["--epochs", 3, True],
        spark_version="13.3.x-scala2.12",
        node_type="Standard_DS3_v2",
        num_workers=0,
        spark_env_variables={"PYSPARK_PYTHON": "/databricks/python3/bin/python3"},
        spark_conf={"spark.speculation": "true"},
        init_scripts=["dbfs:/init/a.sh", "dbfs:/init/b.sh"],
        cluster_log_dbfs_path="dbfs:/cluster-logs",
    )
    assert step.task_spec() == {
        "kind": "python_file",
        "python_file": "dbfs:/scripts/train.py",
        "parameters": ["--epochs", "3", "True"],
    }
    assert step.cluster_spec() == {
        "new_cluster": {
            "spark_version": "13.3.x-scala2.12",
            "node_type_id": "Standard_DS3_v2",
            "num_workers": 0,
            "spark_env_vars": {"PYSPARK_PYTHON": "/databricks/python3/bin/python3"},
            "spark_conf": {"spark.speculation": "true"},
            "init_scripts": [
                {"dbfs": {"destination": "dbfs:/init/a.sh"}},
                {"dbfs": {"destination": "dbfs:/init/b.sh"}},
            ],
            "cluster_log_conf": {"dbfs": {"destination": "dbfs:/cluster-logs"}},
        }
    }


def test_local_python_script_on_an_autoscaling_pool_cluster(tmp_path):
    step = DatabricksStep(
        name="score",
        python_script_name="jobs/score.py",
        source_directory=tmp_path,
        python_script_params=["--limit", 10],
        instance_pool_id="pool-1",
        min_workers=1,
        max_workers=4,
    )
    assert step.task_spec() == {
        "kind": "python_script",
        "python_script_name": "jobs/score.py",
        "parameters": ["--limit", "10"],
    }
    assert step.cluster_spec() == {
        "new_cluster": {
            "spark_version": "10.4.x-scala2.12",
            "instance_pool_id": "pool-1",
            "autoscale": {"min_workers": 1, "max_workers": 4},
        }
    }


def test_jar_task_with_every_library_kind():
    step = DatabricksStep(
        name="spark job",
        main_class_name="com.example.Main",
        jar_params=["in", 2],
        num_workers=2,
        jar_libraries=[JarLibrary("dbfs:/jars/app.jar")],
        maven_libraries=[MavenLibrary("com.example:lib:1.0", exclusions=["org.x:y"])],
        pypi_libraries=[PyPiLibrary("pandas")],
        egg_libraries=[EggLibrary("dbfs:/eggs/e.egg")],
        rcran_libraries=[RCranLibrary("forecast")],
        wheel_libraries=[WheelLibrary("dbfs:/wheels/w.whl")],
    )
    assert step.task_spec() == {
        "kind": "jar",
        "main_class_name": "com.example.Main",
        "parameters": ["in", "2"],
    }
    assert step.cluster_spec() == {
        "new_cluster": {
            "spark_version": "10.4.x-scala2.12",
            "node_type_id": "Standard_D3_v2",
            "num_workers": 2,
        }
    }
    assert step.libraries_spec() == [
        {"maven": {"coordinates": "com.example:lib:1.0", "exclusions": ["org.x:y"]}},
        {"pypi": {"package": "pandas"}},
        {"egg": "dbfs:/eggs/e.egg"},
        {"jar": "dbfs:/jars/app.jar"},
        {"cran": {"package": "forecast"}},
        {"whl": "dbfs:/wheels/w.whl"},
    ]


# -- the step in a pipeline -----------------------------------------------------------------


def script_step(name: str, name_in_folder: str, folder: Path, **kwargs) -> DatabricksStep:
    return DatabricksStep(
        name=name, python_script_name=name_in_folder, source_directory=folder, **CLUSTER, **kwargs
    )


def only_problem(pipeline: Pipeline) -> str:
    problems = pipeline.validate()
    assert len(problems) == 1, problems
    return problems[0]


def test_python_script_name_found_in_source_directory(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "score.py").write_text("print('hi')\n")
    pipeline = Pipeline([script_step("score", "jobs/score.py", tmp_path)])
    assert pipeline.validate() == []
    node = pipeline.graph().nodes[0]
    assert (node.source_directory, node.script_path) == (
        tmp_path.resolve(),
        tmp_path.resolve() / "jobs/score.py",
    )


def test_source_directory_that_is_not_a_folder(tmp_path):
    missing = tmp_path / "nowhere"
    problem = only_problem(Pipeline([script_step("score", "score.py", missing)]))
    assert problem == f"step 'score': source_directory {str(missing)!r} is not a folder"


def test_python_script_name_missing_from_source_directory(tmp_path):
    problem = only_problem(Pipeline([script_step("score", "score.py", tmp_path)]))
    assert (
        problem
        == f"step 'score': python_script_name 'score.py' is missing from source_directory {str(tmp_path)!r}"
    )


def test_source_directory_relative_to_the_file_that_makes_the_pipeline():
    here = Path(__file__).parent
    pipeline = Pipeline([script_step("s", THIS_FILE, Path("."))])
    assert pipeline.graph().nodes[0].source_directory == here


def test_notebook_step_needs_no_files():
    node = Pipeline([notebook_step()]).graph().nodes[0]
    assert (node.source_directory, node.script_path, node.arguments) == (None, None, [])


def test_python_databricks_python_pipeline_is_ordered_by_its_data(tmp_path):
    for name in ("prep.py", "report.py"):
        (tmp_path / name).write_text("print('hi')\n")
    raw = DataReference(Datastore("lake"), "raw", "raw/2024")
    prepared, features = PipelineData("prepared"), PipelineData("features")
    epochs = PipelineParameter("epochs", 5)
    report = PythonScriptStep(
        "report.py", name="report", inputs=[features], arguments=["--in", features], source_directory=tmp_path
    )
    featurize = DatabricksStep(
        name="featurize",
        inputs=[raw, prepared.as_download()],
        outputs=[features],
        notebook_path="/Shared/featurize",
        notebook_params={"epochs": epochs},
        num_workers=2,
        compute_target="dbx",
    )
    prep = PythonScriptStep(
        "prep.py", name="prep", outputs=[prepared], arguments=["--out", prepared], source_directory=tmp_path
    )
    pipeline = Pipeline([report, featurize, prep])
    assert pipeline.validate() == []
    graph = pipeline.graph()
    assert [node.name for node in graph.nodes] == ["prep", "featurize", "report"]
    node = graph.node("featurize")
    assert node.upstream == ["prep"]
    assert [i["name"] for i in node.inputs] == ["raw", "prepared"]
    assert node.inputs[1]["producer"] == "prep" and node.inputs[1]["mode"] == "download"
    assert node.outputs[0]["name"] == "features"
    assert graph.node("report").upstream == ["featurize"]
    assert graph.parameters == {"epochs": epochs}
    assert node.compute_target is None and node.operator_kwargs["databricks_conn_id"] == "dbx"

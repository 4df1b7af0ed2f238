"""Publishing: the DAG a published pipeline becomes, and v1's submit payload rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_mlpipe import Pipeline, PipelineParameter, PythonScriptStep
from airflow_provider_mlpipe.api.payload import PayloadError, check_submission, v1_status

#: A script that exists beside this DAG-defining file: the test module itself.
THIS_FILE = Path(__file__).name


TYPES = {
    "pipeline_arg": "integer",
    "rate": ["number", "integer"],
    "label": "string",
    "flag": "boolean",
    "regenerate_outputs": "boolean",
    "input_data": "object",
}


def test_publish_makes_a_tagged_dag_named_after_the_pipeline():
    step = PythonScriptStep(
        THIS_FILE, name="s", source_directory=".", arguments=[PipelineParameter("pipeline_arg", 10)]
    )
    published = Pipeline([step]).publish(
        "My_Published_Pipeline", description="My Published Pipeline Description", version="1.0"
    )
    assert (published.id, published.name, published.version, published.status) == (
        "My_Published_Pipeline",
        "My_Published_Pipeline",
        "1.0",
        "Active",
    )
    dag = published.dag
    assert dag.dag_id == "My_Published_Pipeline"
    assert {"mlpipe:published", "mlpipe:version:1.0"} <= set(dag.tags)
    assert (
        dag.doc_md == "My Published Pipeline Description"
        and dag.dag_display_name == "My_Published_Pipeline (v1.0)"
    )
    assert dag.params["continue_on_step_failure"] is False  # stop at the first failed step...
    keep_going = Pipeline([step]).publish("Keep_Going", continue_on_step_failure=True).dag
    assert keep_going.params["continue_on_step_failure"] is True  # ...unless asked, per pipeline or run


def test_a_published_pipeline_is_active_on_creation_unless_its_author_says_otherwise():
    """v1 publishes pipelines active: the DAG is unpaused when Airflow first sees it (any
    `[core] dags_are_paused_at_creation`); `is_paused_upon_creation=True` keeps Airflow's pause."""
    step = PythonScriptStep(THIS_FILE, name="s", source_directory=".")
    assert Pipeline([step]).publish("Active_On_Creation").dag.is_paused_upon_creation is False
    paused = Pipeline([step]).publish("Paused_On_Creation", is_paused_upon_creation=True).dag
    assert paused.is_paused_upon_creation is True
    assert Pipeline([step]).to_dag("not_published").is_paused_upon_creation is None  # Airflow's setting


def test_a_valid_submission_becomes_the_runs_conf():
    body = {
        "ExperimentName": "My_Pipeline",
        "ParameterAssignments": {"pipeline_arg": 20, "rate": 1, "label": "x", "flag": False},
        "Description": "nightly",
        "Tags": {"team": "ml"},
        "RunSource": "SDK",
    }
    submission = check_submission(body, TYPES, "p", "1.0")
    assert submission.note == "nightly"
    assert submission.conf == {
        "pipeline_arg": 20,
        "rate": 1,
        "label": "x",
        "flag": False,
        "mlpipe": {
            "experiment_name": "My_Pipeline",
            "description": "nightly",
            "tags": {"team": "ml"},
            "run_source": "SDK",
            "pipeline_version": "1.0",
        },
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ParameterAssignments": {}}, "ExperimentName is required"),
        ({"ExperimentName": "e", "ParameterAssignments": {"nope": 1}}, "has no parameter 'nope'"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": "20"}},
            "'pipeline_arg' must be of type integer",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"pipeline_arg": True}},
            "'pipeline_arg' must be of type integer",
        ),
        ({"ExperimentName": "e", "ParameterAssignments": {"flag": 1}}, "'flag' must be of type boolean"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"label": "a\nb"}},
            "'label' is a multi-line string",
        ),
        ({"ExperimentName": "e", "ParameterAssignments": []}, "ParameterAssignments must be an object"),
        (
            {
                "ExperimentName": "e",
                "DataPathAssignments": {"input": {"DataStoreName": "x", "RelativePath": "y"}},
            },
            "no DataPath parameter 'input'",
        ),
        (
            {
                "ExperimentName": "e",
                "DataPathAssignments": {"label": {"DataStoreName": "x", "RelativePath": "y"}},
            },
            "no DataPath parameter 'label'",
        ),
        (
            {"ExperimentName": "e", "DataPathAssignments": {"input_data": {"DataStoreName": "x"}}},
            "'input_data' is missing RelativePath",
        ),
        (
            {"ExperimentName": "e", "DataPathAssignments": {"input_data": "x/y"}},
            "'input_data' must be an object with DataStoreName and RelativePath",
        ),
        ({"ExperimentName": "e", "Tags": {"a": 1}}, "Tags must be an object of string values"),
        ({"ExperimentName": "e", "Extra": 1}, "unknown field(s) Extra"),
        ("not an object", "must be a JSON object"),
    ],
)
def test_bad_submissions_name_the_problem(body, message):
    with pytest.raises(PayloadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_submission(body, TYPES, "p", None)


def test_data_path_assignments_become_the_data_path_parameters_value():
    body = {
        "ExperimentName": "e",
        "DataPathAssignments": {"input_data": {"DataStoreName": "other_store", "RelativePath": "b.csv"}},
    }
    conf = check_submission(body, TYPES, "p", None).conf
    assert conf["input_data"] == {"datastore": "other_store", "path_on_datastore": "b.csv"}


def test_v1_statuses():
    assert [v1_status(s) for s in ("queued", "running", "success", "failed", "upstream_failed", None)] == [
        "NotStarted",
        "Running",
        "Finished",
        "Failed",
        "Canceled",
        "NotStarted",
    ]


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # What the metadata DB cannot store: non-finite numbers, NUL characters, lone surrogates.
        (
            {"ExperimentName": "e", "ParameterAssignments": {"rate": float("nan")}},
            "ParameterAssignments['rate']: NaN is not a finite number",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"rate": float("-inf")}},
            "ParameterAssignments['rate']: -Infinity is not a finite number",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"label": "a\x00b"}},
            "ParameterAssignments['label']: contains a NUL character",
        ),
        ({"ExperimentName": "e", "Description": "\ud800"}, "Description: contains a lone surrogate"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"input_data": _nested(40)}},
            "nested deeper than 32 levels",
        ),
        # Every field's size is bounded (api/limits.py).
        ({"ExperimentName": "e", "Description": "x" * 1001}, "Description has 1001 characters; at most 1000"),
        (
            {"ExperimentName": "e", "Tags": {f"t{i}": "v" for i in range(51)}},
            "Tags has 51 entries; at most 50",
        ),
        ({"ExperimentName": "e", "Tags": {"k": "v" * 1001}}, "Tags['k'] has 1001 characters; at most 1000"),
        ({"ExperimentName": "e", "Tags": {"k" * 251: "v"}}, "has 251 characters; at most 250"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"label": "x" * 10_001}},
            "ParameterAssignments: 'label' has 10001 characters; at most 10000",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {f"p{i}": 1 for i in range(101)}},
            "have 101 entries; at most 100",
        ),
        (
            {
                "ExperimentName": "e",
                "DataPathAssignments": {"input_data": {"DataStoreName": "s", "RelativePath": "p" * 10_001}},
            },
            "RelativePath has 10001 characters",
        ),
        ({"ExperimentName": "e", "RunSource": 5}, "RunSource must be a string"),
        ({"ExperimentName": "e", "RunSource": "s" * 101}, "RunSource has 101 characters; at most 100"),
        # v1's experiment name rule.
        ({"ExperimentName": "my experiment"}, "ExperimentName 'my experiment' must be 1-255 letters"),
        ({"ExperimentName": "_e"}, "starting with a letter or digit"),
        ({"ExperimentName": "e" * 256}, "must be 1-255 letters"),
    ],
)
def test_values_the_db_cannot_store_and_oversized_fields_are_refused_naming_the_field(body, message):
    with pytest.raises(PayloadError) as raised:
        check_submission(body, TYPES, "p", None)
    assert message in str(raised.value)
    assert len(str(raised.value)) < 400  # the message names the value, it does not echo all of it


def test_limits_are_inclusive():
    body = {
        "ExperimentName": "e" * 255,
        "Description": "d" * 1000,
        "Tags": {f"{i:0>250}": "v" * 1000 for i in range(50)},
        "RunSource": "s" * 100,
        "ParameterAssignments": {"label": "x" * 10_000, "rate": 1e308},
    }
    assert check_submission(body, TYPES, "p", None).note == "d" * 1000

"""Templated step fields: only literal values are Jinja templates; errors name the step and the field.

Rendering goes through the operators' `render_template_fields`, as Airflow's task runner calls it,
with the DAG's own template environment; real runs are in tests/integration/test_templates.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe import (
    AdlaStep,
    DatabricksStep,
    Pipeline,
    PipelineParameter,
    PythonScriptStep,
)
from airflow_provider_mlpipe.authoring.errors import PipelineValidationError
from airflow_provider_mlpipe.operators.adla import AdlaStepOperator
from airflow_provider_mlpipe.operators.databricks import DatabricksStepOperator
from airflow_provider_mlpipe.operators.python_script import PythonScriptStepOperator

CONTEXT = {"ds": "2026-01-05", "ds_nodash": "20260105", "params": {"label": "{{ 7 * 7 }}"}}


def python_operator(dag: DAG, arguments, step_params=None) -> PythonScriptStepOperator:
    with dag:
        return PythonScriptStepOperator(
            task_id="s",
            step_name="my step",
            script_name="a.py",
            script_path="/nowhere/a.py",
            arguments=arguments,
            step_params=step_params,
        )


def test_only_literal_values_of_arguments_and_params_are_rendered():
    operator = python_operator(
        DAG("t_python", schedule=None),
        [
            {"value": "--day"},
            {"value": "{{ ds }}"},
            {"value": "{{ params.label }}"},
            {"input": "{{ no_such_name }}"},
            {"output": "{{ ds }}"},
            {"parameter": "{{ ds }}"},
        ],
        {"day": {"value": "{{ ds_nodash }}"}, "bound": {"parameter": "{{ ds }}"}},
    )
    operator.render_template_fields(CONTEXT)
    assert operator.arguments == [
        {"value": "--day"},
        {"value": "2026-01-05"},
        {"value": "{{ 7 * 7 }}"},  # a param's value is data: its output is not rendered again
        {"input": "{{ no_such_name }}"},
        {"output": "{{ ds }}"},
        {"parameter": "{{ ds }}"},
    ]
    assert operator.step_params == {"day": {"value": "20260105"}, "bound": {"parameter": "{{ ds }}"}}


def test_a_rendered_literal_stays_a_literal_string_with_native_rendering():
    operator = python_operator(
        DAG("t_native", schedule=None, render_template_as_native_obj=True),
        [{"value": "{{ 40 + 2 }}"}, {"value": "{{ {'parameter': 'x'} }}"}],
    )
    operator.render_template_fields(CONTEXT)
    assert operator.arguments == [{"value": "42"}, {"value": "{'parameter': 'x'}"}]


def test_templated_fields_are_kept_as_given_until_rendered():
    """No normalising of templated fields in __init__ (apache/airflow#29746): an XComArg stays one."""
    from airflow.providers.standard.operators.empty import EmptyOperator

    dag = DAG("t_xcomarg", schedule=None)
    with dag:
        upstream = EmptyOperator(task_id="up")
    output = upstream.output
    operator = python_operator(dag, output, output)
    assert operator.arguments is output and operator.step_params is output
    assert operator.upstream_task_ids == {"up"}, "Airflow saw the XComArg in a templated field"


def test_a_subclass_template_field_that_holds_no_tokens_is_rendered_as_airflow_does():
    class Pinned(PythonScriptStepOperator):
        template_fields = (*PythonScriptStepOperator.template_fields, "python_interpreter")

    with DAG("t_subclass", schedule=None):
        operator = Pinned(
            task_id="s",
            step_name="pinned",
            script_name="a.py",
            script_path="/nowhere/a.py",
            arguments=[{"value": "{{ ds }}"}],
            python_interpreter="/envs/{{ ds_nodash }}/bin/python",
        )
    operator.render_template_fields(CONTEXT)
    assert operator.python_interpreter == "/envs/20260105/bin/python"
    assert operator.arguments == [{"value": "2026-01-05"}]


def databricks_operator(task_spec, cluster_spec=None) -> DatabricksStepOperator:
    with DAG("t_databricks", schedule=None):
        return DatabricksStepOperator(
            task_id="d",
            step_name="remote step",
            task_spec=task_spec,
            cluster_spec=cluster_spec or {"existing_cluster_id": "c"},
        )


def test_databricks_parameters_are_rendered_and_nothing_else():
    secret_conf = {"new_cluster": {"spark_conf": {"fs.azure.key": "{{secrets/scope/key}}"}}}
    notebook = databricks_operator(
        {
            "kind": "notebook",
            "notebook_path": "/Shared/{{ ds }}",
            "base_parameters": {
                "day": "{{ ds }}",
                "input": "{{ ds_nodash }}",
                "rate": {"parameter": "{{ ds }}"},
            },
        },
        secret_conf,
    )
    notebook.render_template_fields(CONTEXT)
    assert notebook.task_spec == {
        "kind": "notebook",
        "notebook_path": "/Shared/{{ ds }}",
        "base_parameters": {"day": "2026-01-05", "input": "20260105", "rate": {"parameter": "{{ ds }}"}},
    }
    assert notebook.cluster_spec == secret_conf, "Databricks secret references are not Jinja"
    for kind in ("python_file", "python_script", "jar"):
        operator = databricks_operator(
            {"kind": kind, "parameters": ["--day", "{{ ds }}", {"parameter": "p"}]}
        )
        operator.render_template_fields(CONTEXT)
        assert operator.task_spec["parameters"] == ["--day", "2026-01-05", {"parameter": "p"}]


def test_adla_params_are_rendered_and_nothing_else():
    with DAG("t_adla", schedule=None):
        operator = AdlaStepOperator(
            task_id="a",
            step_name="usql",
            script_path="/nowhere/{{ ds }}.usql",
            usql_spec={
                "script_name": "{{ ds }}.usql",
                "params": {"day": "{{ ds }}", "p": {"parameter": "p"}},
            },
        )
    operator.render_template_fields(CONTEXT)
    assert operator.usql_spec == {
        "script_name": "{{ ds }}.usql",
        "params": {"day": "2026-01-05", "p": {"parameter": "p"}},
    }
    assert operator.script_path == "/nowhere/{{ ds }}.usql"


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (
            lambda: python_operator(DAG("e1", schedule=None), [{"value": "x"}, {"value": "{{ nope }}"}]),
            "arguments[1]",
        ),
        (
            lambda: python_operator(DAG("e2", schedule=None), [], {"day": {"value": "{{ nope }}"}}),
            "params['day']",
        ),
        (
            lambda: databricks_operator({"kind": "notebook", "base_parameters": {"day": "{{ nope }}"}}),
            "notebook_params['day']",
        ),
        (
            lambda: databricks_operator({"kind": "python_script", "parameters": ["{{ nope }}"]}),
            "python_script_params[0]",
        ),
        (lambda: databricks_operator({"kind": "jar", "parameters": ["{{ nope }}"]}), "jar_params[0]"),
    ],
)
def test_a_template_error_names_the_step_and_the_field(make, where):
    operator = make()
    with pytest.raises(AirflowException) as raised:
        operator.render_template_fields(CONTEXT)
    message = str(raised.value)
    assert f"step {operator.step_name!r}" in message and where in message
    assert "{{ nope }}" in message and "'nope' is undefined" in message


# -- parse time: the syntax of every templated literal is checked when the DAG file is parsed ------


@pytest.fixture
def src(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_text("")
    (tmp_path / "job.usql").write_text('@x = SELECT "@@day@@" AS d FROM @t;\n')
    return tmp_path


def test_a_template_syntax_error_is_a_parse_time_error_naming_step_and_field(src):
    label = PipelineParameter("label", "x")
    steps = [
        PythonScriptStep(
            "a.py", name="py", source_directory=src, arguments=["--day", "{{ ds "], params={"p": "{% if %}"}
        ),
        DatabricksStep(
            name="dbx",
            notebook_path="/n",
            notebook_params={"day": "{{ ds }", "label": label},
            existing_cluster_id="c",
        ),
        AdlaStep("job.usql", name="usql", source_directory=src, params={"day": "{% for %}"}),
    ]
    with pytest.raises(PipelineValidationError) as raised:
        Pipeline(steps).to_dag("bad_templates")
    problems = raised.value.problems
    assert len(problems) == 4, problems
    for expected in (
        "step 'py': arguments[1]",
        "step 'py': params['p']",
        "step 'dbx': notebook_params['day']",
        "step 'usql': params['day']",
    ):
        assert any(p.startswith(expected) and "Jinja template" in p for p in problems), (expected, problems)


def test_valid_templates_and_databricks_secret_references_parse(src):
    steps = [
        PythonScriptStep(
            "a.py", name="py", source_directory=src, arguments=["{{ ds }}", "{% raw %}{{ x {% endraw %}"]
        ),
        DatabricksStep(
            name="dbx",
            python_script_path="dbfs:/a.py",
            python_script_params=["{{ macros.ds_add(ds, 1) }}"],
            spark_conf={"fs.azure.account.key": "{{secrets/scope/key}}"},
            num_workers=1,
        ),
    ]
    dag = Pipeline(steps).to_dag("good_templates")
    assert sorted(dag.task_dict) == ["dbx", "py"]


def test_the_dags_own_template_syntax_is_checked(src):
    step = PythonScriptStep(
        "a.py", name="py", source_directory=src, arguments=["{{ not a template here", "[[ ds"]
    )
    kwargs = {"variable_start_string": "[[", "variable_end_string": "]]"}
    with pytest.raises(PipelineValidationError, match=r"arguments\[1\]"):
        Pipeline([step]).to_dag("own_syntax", jinja_environment_kwargs=kwargs)

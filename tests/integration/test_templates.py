"""Templated step fields in real `dag.test()` runs: scripts, the reuse key, Databricks and ADLA jobs.

Every run here has a logical date, so `{{ ds }}` is known; a run conf value that looks like a
template (`{{ 7 * 7 }}`) must reach the step as written.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.integration.dagruns import load_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

JAN_5 = datetime(2026, 1, 5, tzinfo=timezone.utc)
JAN_6 = datetime(2026, 1, 6, tzinfo=timezone.utc)
HOSTILE = "{{ 7 * 7 }}"

PROBE = """
    import json, os, sys
    with open(os.path.join(os.environ["MLPIPE_TEST_MARKERS"], "{name}.jsonl"), "a") as log:
        env = {{k: v for k, v in os.environ.items() if k.startswith("AML_PARAMETER_")}}
        log.write(json.dumps({{"argv": sys.argv[1:], "env": env}}) + "\\n")
    for index, arg in enumerate(sys.argv):
        if arg == "--out":
            os.makedirs(sys.argv[index + 1], exist_ok=True)
            open(os.path.join(sys.argv[index + 1], "argv.json"), "w").write(json.dumps(sys.argv[1:]))
"""


def executions(markers: Path, name: str) -> list[dict]:
    log = markers / f"{name}.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run(dag_file: Path, dag_id: str, logical_date: datetime, conf: dict | None = None):
    return load_dag(dag_file, dag_id).test(logical_date=logical_date, run_conf=conf)


def test_script_arguments_and_params_are_rendered_and_the_key_uses_the_rendered_values(markers):
    dag_file = write_project(
        "templated",
        """
        from airflow_provider_mlpipe import Pipeline, PipelineData, PipelineParameter, PythonScriptStep
        out = PipelineData("out")
        label = PipelineParameter("label", "plain")
        step = PythonScriptStep(
            "probe.py", name="probe", source_directory="templated_src", outputs=[out],
            arguments=[
                "--day", "{{ ds }}", "--next", "{{ macros.ds_add(ds, 1) }}",
                "--label", "{{ params.label }}", "--bound", label,
                "--literal", "{{ '{{' }} ds }}", "--raw", "{% raw %}{{ ds }}{% endraw %}", "--out", out,
            ],
            params={"day": "{{ ds_nodash }}", "bound": label},
        )
        dag = Pipeline([step]).to_dag("templated")
        """,
        {"probe.py": PROBE.format(name="probe")},
    )
    first = run(dag_file, "templated", JAN_5, {"label": HOSTILE})
    assert task_states(first) == {"probe": "success"}
    [ran] = executions(markers, "probe")
    assert ran["argv"][:12] == [
        "--day",
        "2026-01-05",
        "--next",
        "2026-01-06",
        "--label",
        HOSTILE,  # a run's conf value is data, never a template
        "--bound",
        HOSTILE,
        "--literal",
        "{{ ds }}",
        "--raw",
        "{{ ds }}",
    ]
    assert ran["env"] == {"AML_PARAMETER_day": "20260105", "AML_PARAMETER_bound": HOSTILE}

    other_day = run(dag_file, "templated", JAN_6, {"label": HOSTILE})
    assert len(executions(markers, "probe")) == 2, "another logical date renders other arguments: a MISS"
    assert executions(markers, "probe")[1]["argv"][1] == "2026-01-06"
    same_day = run(dag_file, "templated", JAN_5, {"label": HOSTILE})
    assert task_states(same_day) == {"probe": "success"}
    assert len(executions(markers, "probe")) == 2, "the same date renders the same arguments: a HIT"
    keys = [xcom_value(r, "probe", key="mlpipe_reuse") for r in (other_day, same_day)]
    assert keys[1]["decision"] == "hit" and keys[0]["key"] != keys[1]["key"]


def test_a_template_error_fails_the_task_naming_the_step(markers, capfd):
    dag_file = write_project(
        "templated_broken",
        """
        from airflow_provider_mlpipe import Pipeline, PythonScriptStep
        step = PythonScriptStep(
            "probe.py", name="broken step", source_directory="templated_broken_src",
            arguments=["--day", "{{ ds }}", "{{ no_such_variable }}"],
        )
        dag = Pipeline([step]).to_dag("templated_broken")
        """,
        {"probe.py": PROBE.format(name="broken")},
    )
    dag_run = run(dag_file, "templated_broken", JAN_5)
    log = capfd.readouterr().out
    assert task_states(dag_run) == {"broken_step": "failed"}
    assert executions(markers, "broken") == [], "nothing ran"
    assert "step 'broken step': arguments[2] '{{ no_such_variable }}'" in log
    assert "'no_such_variable' is undefined" in log


def test_databricks_parameters_are_rendered_into_the_remote_run(databricks_default, markers):
    dag_file = write_project(
        "templated_databricks",
        """
        from airflow_provider_mlpipe import DatabricksStep, Pipeline, PipelineParameter
        label = PipelineParameter("label", "plain")
        script = DatabricksStep(
            name="script", python_script_name="job.py", source_directory="templated_databricks_src",
            python_script_params=["--day", "{{ ds }}", "--label", "{{ params.label }}", "--bound", label],
            num_workers=1, spark_conf={"fs.azure.account.key": "{{secrets/scope/key}}"},
        )
        notebook = DatabricksStep(
            name="notebook", notebook_path="/Shared/{{ ds }}", existing_cluster_id="c",
            notebook_params={"day": "{{ ds_nodash }}", "bound": label},
        )
        dag = Pipeline([script, notebook]).to_dag("templated_databricks")
        """,
        {"job.py": PROBE.format(name="databricks")},
    )
    first = run(dag_file, "templated_databricks", JAN_5, {"label": HOSTILE})
    assert task_states(first) == {"script": "success", "notebook": "success"}
    [ran] = executions(markers, "databricks")
    assert ran["argv"] == ["--day", "2026-01-05", "--label", HOSTILE, "--bound", HOSTILE]
    submitted = {
        body["run_name"]: body["tasks"][0]
        for _m, path, body in databricks_default.requests
        if path.endswith("/submit")
    }
    assert submitted["script"]["new_cluster"]["spark_conf"] == {
        "fs.azure.account.key": "{{secrets/scope/key}}"
    }
    assert submitted["notebook"]["notebook_task"] == {
        "notebook_path": "/Shared/{{ ds }}",
        "base_parameters": {"day": "20260105", "bound": HOSTILE},
    }

    run(dag_file, "templated_databricks", JAN_5, {"label": HOSTILE})
    assert len(executions(markers, "databricks")) == 1, "the same rendered parameters: reused"
    run(dag_file, "templated_databricks", JAN_6, {"label": HOSTILE})
    assert [r["argv"][1] for r in executions(markers, "databricks")] == ["2026-01-05", "2026-01-06"]


def test_adla_params_are_rendered_into_the_submitted_script(adla_default):
    dag_file = write_project(
        "templated_adla",
        """
        from airflow_provider_mlpipe import AdlaStep, Pipeline, PipelineParameter
        label = PipelineParameter("label", "plain")
        step = AdlaStep(
            "job.usql", name="usql", source_directory="templated_adla_src",
            params={"day": "{{ ds }}", "label": "{{ params.label }}", "bound": label},
        )
        dag = Pipeline([step]).to_dag("templated_adla")
        """,
        {
            "job.usql": '@x = SELECT "@@day@@" AS day, "@@label@@" AS label, "@@bound@@" AS bound FROM @rows;\n'
        },
    )
    dag_run = run(dag_file, "templated_adla", JAN_5, {"label": HOSTILE})
    assert task_states(dag_run) == {"usql": "success"}
    [job] = [body for method, _path, body in adla_default.requests if method == "PUT"]
    assert job["properties"]["script"] == (
        f'@x = SELECT "2026-01-05" AS day, "{HOSTILE}" AS label, "{HOSTILE}" AS bound FROM @rows;\n'
    )

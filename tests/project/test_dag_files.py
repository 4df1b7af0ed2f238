"""DAG files as Airflow sees them: the real CLI, import errors, and parse-time weight."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, airflow_cli

HEADER = """
from airflow_provider_mlpipe import (
    DataReference, Datastore, Pipeline, PipelineData, PipelineParameter, PythonScriptStep,
)
"""

#: One DAG file per mistake that parse-time validation must catch, with the words its error must contain.
BROKEN_DAGS = {
    "argument_not_declared": (
        """
        model = PipelineData("model")
        step = PythonScriptStep("a.py", name="train", arguments=["--out", model], source_directory=".")
        dag = Pipeline([step]).to_dag("argument_not_declared")
        """,
        "step 'train': PipelineData 'model' appears in arguments list but is not in the input/output lists",
    ),
    "input_without_producer": (
        """
        orphan = PipelineData("orphan")
        step = PythonScriptStep("a.py", name="consumer", inputs=[orphan], source_directory=".")
        dag = Pipeline([step]).to_dag("input_without_producer")
        """,
        "step 'consumer': input 'orphan' is not connected to any previous step",
    ),
    "two_producers": (
        """
        data = PipelineData("data")
        one = PythonScriptStep("a.py", name="one", outputs=[data], source_directory=".")
        two = PythonScriptStep("a.py", name="two", outputs=[data], source_directory=".")
        dag = Pipeline([one, two]).to_dag("two_producers")
        """,
        "PipelineData 'data' is an output of two steps: 'one' and 'two'",
    ),
    "cycle_with_run_after": (
        """
        data = PipelineData("data")
        first = PythonScriptStep("a.py", name="first", outputs=[data], source_directory=".")
        second = PythonScriptStep("a.py", name="second", inputs=[data], source_directory=".")
        first.run_after(second)
        dag = Pipeline([first, second]).to_dag("cycle_with_run_after")
        """,
        "steps 'first', 'second' form a cycle",
    ),
    "non_word_name": (
        """
        data = PipelineData("model-v2")
        step = PythonScriptStep("a.py", name="train", outputs=[data], source_directory=".")
        dag = Pipeline([step]).to_dag("non_word_name")
        """,
        "PipelineData name 'model-v2' must contain only letters, digits and '_'",
    ),
    "duplicate_step_names": (
        """
        one = PythonScriptStep("a.py", name="train", source_directory=".")
        two = PythonScriptStep("a.py", name="train", source_directory=".")
        dag = Pipeline([one, two]).to_dag("duplicate_step_names")
        """,
        "two steps are named 'train'",
    ),
    "duplicate_task_ids": (
        """
        one = PythonScriptStep("a.py", name="train.py", source_directory=".")
        two = PythonScriptStep("a.py", name="train py", source_directory=".")
        dag = Pipeline([one, two]).to_dag("duplicate_task_ids")
        """,
        "steps 'train.py' and 'train py' would share the task id 'train_py'",
    ),
    "parameter_two_defaults": (
        """
        one = PythonScriptStep("a.py", name="a", arguments=[PipelineParameter("rate", 1)], source_directory=".")
        two = PythonScriptStep("a.py", name="b", arguments=[PipelineParameter("rate", 2)], source_directory=".")
        dag = Pipeline([one, two]).to_dag("parameter_two_defaults")
        """,
        "PipelineParameter 'rate' has two defaults: 1 (step 'a') and 2 (step 'b')",
    ),
    "script_missing": (
        """
        step = PythonScriptStep("trian.py", name="train", source_directory=".")
        dag = Pipeline([step]).to_dag("script_missing")
        """,
        "step 'train': script_name 'trian.py' is missing from source_directory",
    ),
    "parameter_wrong_type": (
        """
        rate = PipelineParameter("rate", [0.1, 0.2])
        step = PythonScriptStep("a.py", name="train", arguments=[rate], source_directory=".")
        dag = Pipeline([step]).to_dag("parameter_wrong_type")
        """,
        "PipelineParameter 'rate': default_value [0.1, 0.2] has type list; use int, str, bool or float",
    ),
}


def _isolated_airflow(tmp_path: Path, dags_folder: Path) -> dict[str, str]:
    """Environment for a CLI run with its own SQLite DB and DAGs folder (no shared import errors)."""
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
    }


def _import_errors(tmp_path: Path, dags_folder: Path) -> dict[str, str]:
    env = _isolated_airflow(tmp_path, dags_folder)
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        result = airflow_cli(*command, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
    listed = airflow_cli("dags", "list-import-errors", "-o", "json", env=env)
    # The command exits 1 when it lists errors; its JSON is the one line that is a list.
    json_lines = [line for line in listed.stdout.splitlines() if line.startswith("[")]
    assert listed.returncode in (0, 1) and len(json_lines) <= 1, listed.stdout[-3000:] + listed.stderr[-3000:]
    rows = json.loads(json_lines[0]) if json_lines else []
    return {Path(row["filepath"]).stem: row["error"] for row in rows}


@pytest.mark.integration
def test_each_mistake_is_one_clear_import_error_in_the_real_cli(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "a.py").write_text("print('a step script, not a DAG')\n")
    for name, (body, _expected) in BROKEN_DAGS.items():
        (dags / f"{name}.py").write_text(HEADER + textwrap.dedent(body))
    (dags / "valid.py").write_text(
        HEADER
        + 'dag = Pipeline([PythonScriptStep("a.py", name="ok", source_directory=".")]).to_dag("valid")\n'
    )

    errors = _import_errors(tmp_path, dags)

    assert set(errors) == set(BROKEN_DAGS)
    for name, (_body, expected) in BROKEN_DAGS.items():
        last_line = errors[name].strip().splitlines()[-1]
        assert expected in last_line, f"{name}: {last_line}"


@pytest.mark.integration
def test_the_repos_dags_have_no_import_errors_in_the_real_cli(tmp_path):
    assert _import_errors(tmp_path, REPO / "dags") == {}


def test_every_dag_in_dags_folder_loads():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert "mlpipe_compare_models" in bag.dag_ids


def test_importing_the_provider_and_parsing_dags_loads_no_cloud_sdk():
    """Airflow parses DAG files constantly: that must not pull in azure, databricks or msrest."""
    code = textwrap.dedent(
        """
        import glob, runpy, sys
        import airflow_provider_mlpipe
        from airflow_provider_mlpipe import Datastore, DataReference, PipelineData, PipelineParameter
        from airflow_provider_mlpipe import Pipeline, PythonScriptStep, PipelineValidationError
        import airflow_provider_mlpipe.get_provider_info, airflow_provider_mlpipe.hooks.blob_datastore
        for path in sorted(glob.glob("dags/*.py")):
            runpy.run_path(path)
        heavy = sorted({m.split(".")[0] for m in sys.modules} & {"azure", "databricks", "msrest", "msrestazure", "adal"})
        print(",".join(heavy) or "none")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "none"


@pytest.mark.integration
def test_airflow_lists_the_provider_with_its_hooks_connection_type_and_config():
    providers = airflow_cli("providers", "list", "-o", "json")
    assert providers.returncode == 0, providers.stderr[-2000:]
    assert any(p["package_name"] == "airflow-provider-mlpipe" for p in json.loads(providers.stdout))

    hooks = airflow_cli("providers", "hooks", "-o", "json")
    assert hooks.returncode == 0, hooks.stderr[-2000:]
    assert any(h.get("connection_type") == "mlpipe_local" for h in json.loads(hooks.stdout))

    value = airflow_cli("config", "get-value", "mlpipe", "default_datastore")
    assert value.returncode == 0, value.stderr[-2000:]
    assert value.stdout.strip() == ""
    listed = airflow_cli("config", "list", "--section", "mlpipe")
    assert "embedded_root" in listed.stdout

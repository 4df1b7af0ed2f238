"""`PythonScriptStepOperator` parts that need no task run."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe.operators.python_script import PythonScriptStepOperator


def test_a_path_on_compute_never_leads_out_of_the_working_folder(tmp_path):
    operator = PythonScriptStepOperator(
        task_id="t", step_name="train", script_name="a.py", script_path="a.py"
    )
    code = tmp_path / "code"
    code.mkdir()
    (code / "link").symlink_to(tmp_path)
    assert operator._below(code, "data/raw") == code / "data" / "raw"
    assert operator._below(code, None) is None
    for escape in ("/etc", "../x", "link/x"):
        with pytest.raises(AirflowException, match="step 'train': path_on_compute .* leads out of"):
            operator._below(code, escape)

"""The example step kind of tests/example_kind runs for real: the base operator's sequence gives it
inputs, reuse, publishing and records without a line of its own."""

from __future__ import annotations

import pytest

from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

DAG = """
from airflow_provider_mlpipe import Datastore, Pipeline, PipelineData, PipelineParameter
from tests.example_kind.greet_step import GreetStep

who = PipelineParameter("who", default_value="world")
greeting = PipelineData("greeting", datastore=Datastore("mlpipe_default"))
dag = Pipeline([GreetStep("greet", who, outputs=[greeting])]).to_dag("{dag}")
"""


def test_a_kind_of_two_modules_runs_is_reused_and_reruns_when_its_key_changes():
    from airflow_provider_mlpipe import Datastore

    dag_file = write_project("example_greet", DAG.format(dag="example_greet"), {})
    first = run_dag(dag_file, "example_greet", {"regenerate_outputs": True})
    assert task_states(first) == {"greet": "success"}
    record = xcom_value(first, "greet")["greeting"]
    store = Datastore("mlpipe_default").client()
    assert store.read_bytes(f"{record['path_on_datastore']}/greeting.txt") == b"Hello, world!\n"
    assert xcom_value(first, "greet", "mlpipe_reuse")["greeted"] == "world"

    again = run_dag(dag_file, "example_greet")
    decision = xcom_value(again, "greet", "mlpipe_reuse")
    assert decision["decision"] == "hit" and decision["source"]["run_id"] == first.run_id
    assert xcom_value(again, "greet")["greeting"]["path_on_datastore"] == record["path_on_datastore"]

    other = run_dag(dag_file, "example_greet", {"who": "Ada"})
    assert xcom_value(other, "greet", "mlpipe_reuse")["decision"] == "miss"
    path = xcom_value(other, "greet")["greeting"]["path_on_datastore"]
    assert store.read_bytes(f"{path}/greeting.txt") == b"Hello, Ada!\n"

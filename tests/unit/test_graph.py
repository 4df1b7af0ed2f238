"""Parse-time validation: every mistake is found, named with its step, and raised from the DAG file."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_mlpipe import (
    DataReference,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PipelineValidationError,
    PythonScriptStep,
)

#: A script that exists beside this DAG-defining file: the test module itself.
THIS_FILE = Path(__file__).name


@pytest.fixture
def src(tmp_path: Path) -> Path:
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("print('hi')\n")
    return tmp_path


def step(src: Path, name: str, **kwargs) -> PythonScriptStep:
    return PythonScriptStep("a.py", name=name, source_directory=src, **kwargs)


def only_problem(pipeline: Pipeline) -> str:
    problems = pipeline.validate()
    assert len(problems) == 1, problems
    return problems[0]


def test_a_valid_pipeline_has_no_problems(src):
    data = PipelineData("d")
    assert Pipeline([step(src, "p", outputs=[data]), step(src, "c", inputs=[data])]).validate() == []


def test_input_that_no_step_produces(src):
    orphan = PipelineData("orphan")
    problem = only_problem(Pipeline([step(src, "consumer", inputs=[orphan])]))
    assert "step 'consumer': input 'orphan' is not connected to any previous step" in problem


def test_one_output_produced_by_two_steps(src):
    data = PipelineData("d")
    problem = only_problem(Pipeline([step(src, "one", outputs=[data]), step(src, "two", outputs=[data])]))
    assert "PipelineData 'd' is an output of two steps: 'one' and 'two'" in problem


def test_cycle_through_data(src):
    x, y = PipelineData("x"), PipelineData("y")
    first = step(src, "first", inputs=[y], outputs=[x])
    second = step(src, "second", inputs=[x], outputs=[y])
    after = step(src, "after", inputs=[y])
    problem = only_problem(Pipeline([first, second, after]))
    assert problem == "steps 'first', 'second' form a cycle (through their data or run_after)"


def test_cycle_through_run_after(src):
    data = PipelineData("d")
    first = step(src, "first", outputs=[data])
    second = step(src, "second", inputs=[data])
    first.run_after(second)
    assert "form a cycle" in only_problem(Pipeline([first, second]))


def test_duplicate_step_names(src):
    assert "two steps are named 'same'" in only_problem(Pipeline([step(src, "same"), step(src, "same")]))


def test_step_names_that_become_the_same_task_id(src):
    problem = only_problem(Pipeline([step(src, "train.py"), step(src, "train_py")]))
    assert "steps 'train.py' and 'train_py' would share the task id 'train_py'" in problem


def test_one_parameter_name_with_two_defaults(src):
    one, two = PipelineParameter("rate", 1), PipelineParameter("rate", 2)
    problem = only_problem(Pipeline([step(src, "a", arguments=[one]), step(src, "b", arguments=[two])]))
    assert "PipelineParameter 'rate' has two defaults: 1 (step 'a') and 2 (step 'b')" in problem


def test_same_parameter_name_and_default_in_two_objects_is_fine(src):
    one, two = PipelineParameter("rate", 1), PipelineParameter("rate", 1)
    assert Pipeline([step(src, "a", arguments=[one]), step(src, "b", params={"r": two})]).validate() == []


def test_script_missing_from_source_directory(src):
    missing = PythonScriptStep("nope.py", name="train", source_directory=src)
    assert f"step 'train': script_name 'nope.py' is missing from source_directory '{src}'" in only_problem(
        Pipeline([missing])
    )


def test_source_directory_relative_to_the_file_that_makes_the_pipeline():
    here = Path(__file__).parent
    relative = PythonScriptStep(THIS_FILE, name="s", source_directory=".")
    assert Pipeline([relative]).graph().nodes[0].source_directory == here


def test_every_problem_is_reported_at_once_and_to_dag_raises(src):
    orphan = PipelineData("orphan")
    pipeline = Pipeline([step(src, "same", inputs=[orphan]), step(src, "same")])
    with pytest.raises(PipelineValidationError) as raised:
        pipeline.to_dag("broken")
    assert len(raised.value.problems) == 2
    assert str(raised.value).startswith("pipeline 'broken' has 2 problems:")


def test_data_reference_inputs_need_no_producer(src):
    ref = DataReference(Datastore("store"), "raw", "raw/data.csv")
    assert Pipeline([step(src, "reader", inputs=[ref], arguments=[ref])]).validate() == []

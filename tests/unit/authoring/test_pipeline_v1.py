"""`Pipeline` as v1 writes it (`Pipeline(workspace, steps, ...)`), and `publish` returning v1's
`PublishedPipeline` handle while Airflow still finds the DAG in the DAG file."""

from __future__ import annotations

import textwrap

import pytest

from airflow_provider_mlpipe import Pipeline, PublishedPipeline, PythonScriptStep, Workspace


@pytest.fixture
def step(tmp_path):
    (tmp_path / "a.py").write_text("")
    return PythonScriptStep("a.py", name="a", source_directory=tmp_path)


def test_v1s_forms_and_the_short_forms_build_the_same_pipeline(step):
    ws = Workspace("sub", "rg", "ws")
    forms = [
        Pipeline(ws, [step]),
        Pipeline(workspace=ws, steps=[step]),
        Pipeline(ws, [step], "described"),
        Pipeline([step]),
        Pipeline(steps=[step]),
        Pipeline(None, [step]),
    ]
    assert all(pipeline.steps == [step] for pipeline in forms)
    assert forms[0].workspace is ws and forms[3].workspace is None
    assert forms[2].description == "described"


def test_a_wrong_workspace_or_an_unknown_argument_is_refused(step):
    with pytest.raises(TypeError, match="workspace must be a Workspace"):
        Pipeline("not a workspace", [step])
    with pytest.raises(TypeError, match=r"unexpected arguments \['colour'\]"):
        Pipeline([step], colour="red")
    with pytest.raises(ValueError, match="resolve_closure=False is not supported"):
        Pipeline(None, [step], resolve_closure=False)


def test_publish_returns_v1s_handle_holding_the_dag(step, monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")
    published = Pipeline([step]).publish("Handle_Test", description="d", version="3")
    assert isinstance(published, PublishedPipeline)
    assert (published.id, published.name, published.version, published.status) == (
        "Handle_Test",
        "Handle_Test",
        "3",
        "Active",
    )
    assert published.endpoint == "http://airflow.example:8080/mlpipe/pipelines/Handle_Test/submit"
    assert published.dag.dag_id == "Handle_Test" and published.get_step_names() == ["a"]
    assert published.workspace.is_local
    with pytest.raises(ValueError, match="give a name"):
        Pipeline([step]).publish()


def test_airflow_finds_a_published_pipeline_that_no_variable_holds(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("")
    (tmp_path / "published_unassigned.py").write_text(
        textwrap.dedent(
            """
            # A DAG file (Airflow's safe mode parses only files that mention "airflow" and "dag").
            from airflow_provider_mlpipe import Pipeline, PythonScriptStep

            Pipeline([PythonScriptStep("a.py", source_directory="src")]).publish("Unassigned_Published")
            handle = Pipeline([PythonScriptStep("a.py", source_directory="src")]).publish("Assigned_Published")
            """
        )
    )
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    assert {"Unassigned_Published", "Assigned_Published"} <= set(bag.dag_ids)


def test_submit_refuses_what_has_no_meaning_here(step):
    pipeline = Pipeline([step])
    with pytest.raises(ValueError, match="credential_passthrough is not supported"):
        pipeline.submit("exp", credential_passthrough=True)
    remote = Pipeline(Workspace.connect("http://127.0.0.1:1", token="t"), [step])
    with pytest.raises(ValueError, match="runs in the embedded local Airflow"):
        remote.submit("exp")

"""One encoder (`authoring.steps.encode_token`) and one binder (`tokens.Binding`) for every kind."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_mlpipe import (
    DataPath,
    Datastore,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)
from airflow_provider_mlpipe.authoring.steps import encode_token, encode_tokens
from airflow_provider_mlpipe.tokens import Binding


def test_each_kind_of_value_becomes_its_token(tmp_path):
    raw = Datastore("store").path("raw", data_reference_name="raw")
    out = PipelineData("out")
    rate = PipelineParameter("rate", 0.1)
    where = PipelineParameter("where", DataPath(Datastore("store"), "in"))
    step = PythonScriptStep(
        "s.py",
        name="s",
        inputs=[raw, where],
        outputs=[out],
        arguments=["--n", 3, True, raw, out, rate, where],
        source_directory=str(tmp_path),
    )
    assert encode_tokens(step.arguments, step) == [
        {"value": "--n"},
        {"value": "3"},
        {"value": "True"},
        {"input": "raw"},
        {"output": "out"},
        {"parameter": "rate"},
        {"input": "where"},
    ]
    assert encode_token("x", bare_literal=True) == "x"
    assert encode_token(rate, bare_literal=True) == {"parameter": "rate"}


def test_tokens_of_one_object_are_separate_dicts(tmp_path):
    raw = Datastore("store").path("raw", data_reference_name="raw")
    step = PythonScriptStep(
        "s.py", name="s", inputs=[raw], arguments=[raw, raw], source_directory=str(tmp_path)
    )
    first, second = encode_tokens(step.arguments, step)
    assert first == second and first is not second, "rendering one in place must not change the other"


def test_binding_for_a_run_and_for_the_reuse_key():
    tokens = [{"value": "--rate"}, {"parameter": "rate"}, {"input": "raw"}, {"output": "out"}, "bare"]
    run = Binding("s", {"rate": 0.5}, {"raw": "/in/raw", "out": "/out"})
    assert run.texts(tokens) == ["--rate", "0.5", "/in/raw", "/out", "bare"]
    key = Binding("s", {"rate": 0.5})
    assert key.texts(tokens) == ["--rate", "0.5", "<input raw>", "<output out>", "bare"]
    assert run.mapping({"a": {"parameter": "rate"}, "b": "x"}) == {"a": "0.5", "b": "x"}


def test_a_missing_or_multi_line_parameter_names_the_step():
    with pytest.raises(
        AirflowException, match="step 's': pipeline parameter 'gone' has no value in this run"
    ):
        Binding("s", {}).text({"parameter": "gone"})
    assert Binding("s", {"p": "a\nb"}).text({"parameter": "p"}) == "a\nb"
    with pytest.raises(AirflowException, match="step 's': pipeline parameter 'p' is multi-line"):
        Binding("s", {"p": "a\nb"}, one_line=True).text({"parameter": "p"})

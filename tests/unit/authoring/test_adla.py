"""`AdlaStep`: v1's arguments and parse-time errors, the U-SQL script's placeholders, and `usql_spec`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe import (
    AdlaStep,
    DataReference,
    Datastore,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
)
from airflow_provider_mlpipe.authoring.steps import SourceFileLookup

SCRIPT = 'DECLARE @in string = "@@raw@@";\nOUTPUT @t TO "@@cleaned@@" USING Outputters.Csv();\n'


def raw() -> DataReference:
    return DataReference(Datastore("lake"), "raw", "in/raw.csv")


def adla(name: str = "clean", **kwargs) -> AdlaStep:
    return AdlaStep(script_name="clean.usql", name=name, **kwargs)


def write(folder: Path, text: str, name: str = "clean.usql") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def only_problem(pipeline: Pipeline) -> str:
    problems = pipeline.validate()
    assert len(problems) == 1, problems
    return problems[0]


# -- package root and defaults ----------------------------------------------------------------


def test_package_root_exports_adla_step():
    assert mlpipe.AdlaStep is AdlaStep
    assert "AdlaStep" in mlpipe.__all__
    assert "AdlaStep" in dir(mlpipe)


def test_defaults():
    step = AdlaStep("jobs/clean.usql")
    assert step.kind == "AdlaStep"
    assert step.name == "jobs/clean.usql"
    assert step.script_name == "jobs/clean.usql"
    assert step.inputs == [] and step.outputs == [] and step.arguments == []
    assert step.params == {}
    assert step.degree_of_parallelism is None and step.priority is None and step.runtime_version is None
    assert step.adla_conn_id == "adla_default"
    assert step.compute_target is None  # a connection, not an Airflow queue
    assert step.source_directory is None
    assert step.allow_reuse is True and step.version is None
    assert step.placeholders() == []
    assert step.parameters() == []


def test_v1_positional_order():
    cleaned = PipelineData("cleaned")
    step = AdlaStep(
        "clean.usql", "clean", [raw()], [cleaned], {"n": 3}, 4, 50, "rt1", "adla_prod", "usql", False, "2"
    )
    assert (step.script_name, step.name, step.params) == ("clean.usql", "clean", {"n": 3})
    assert step.input_data[0].name == "raw" and step.outputs == [cleaned]
    assert (step.degree_of_parallelism, step.priority, step.runtime_version) == (4, 50, "rt1")
    assert step.adla_conn_id == "adla_prod" and step.compute_target is None
    assert step.source_directory == Path("usql")
    assert step.allow_reuse is False and step.version == "2"
    assert cleaned.producers == [step]


def test_compute_target_object_with_a_name():
    class AdlaCompute:
        name = "adla_west"

    assert adla(compute_target=AdlaCompute()).adla_conn_id == "adla_west"


def test_placeholders_are_inputs_outputs_then_params():
    step = adla(inputs=[raw()], outputs=[PipelineData("cleaned")], params={"n": 1, "day": "mon"})
    assert step.placeholders() == ["raw", "cleaned", "n", "day"]


def test_hash_paths_is_deprecated_and_ignored():
    with pytest.warns(DeprecationWarning, match="step 'clean': hash_paths is deprecated"):
        adla(hash_paths=["clean.usql"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adla(hash_paths=[])


def test_no_arguments_keyword():
    with pytest.raises(TypeError):
        AdlaStep("clean.usql", arguments=["--x"])  # type: ignore[call-arg]


# -- parse-time errors in __init__ ----------------------------------------------------------------

INVALID = [
    *(
        pytest.param(
            {key: bad},
            ValueError,
            f"AdlaStep 'clean': {key} must be a positive int (> 0), got {bad!r}",
            id=f"{key}-{bad!r}",
        )
        for key in ("degree_of_parallelism", "priority")
        for bad in (0, -1, True, False, "2", 2.0)
    ),
    pytest.param(
        {
            "inputs": [DataReference(datastore=Datastore("lake"), data_reference_name="day")],
            "params": {"day": "mon"},
        },
        ValueError,
        "AdlaStep 'clean': params name 'day' is also the name of an input; @@day@@ in the script must mean one",
        id="params-clash-input",
    ),
    pytest.param(
        {"inputs": [PipelineData("day").as_download()], "params": {"day": "mon"}},
        ValueError,
        "AdlaStep 'clean': params name 'day' is also the name of an input",
        id="params-clash-pipeline-data-input",
    ),
    pytest.param(
        {"outputs": [PipelineData("out")], "params": {"out": "x"}},
        ValueError,
        "AdlaStep 'clean': params name 'out' is also the name of an output; @@out@@ in the script must mean one",
        id="params-clash-output",
    ),
    pytest.param(
        {"inputs": [PipelineData("same").as_input("both")], "outputs": [PipelineData("both")]},
        ValueError,
        "AdlaStep 'clean': 'both' names both an input and an output",
        id="input-clash-output",
    ),
    *(
        pytest.param(
            {"params": {bad: "x"}},
            ValueError,
            f"AdlaStep 'clean': params name {bad!r} must contain only letters, digits and '_'",
            id=f"params-name-{bad!r}",
        )
        for bad in ("a-b", "a b", "", "x\n", "é", "@@x@@", 3)
    ),
    pytest.param(
        {"params": ["x"]}, TypeError, "AdlaStep 'clean': params must be a dict", id="params-not-dict"
    ),
    pytest.param(
        {"params": {"p": [1]}},
        TypeError,
        "AdlaStep 'clean': params['p'] [1] is not a string, number, bool or PipelineParameter",
        id="params-value-list",
    ),
    pytest.param(
        {"params": {"p": PipelineData("p")}},
        TypeError,
        "AdlaStep 'clean': params['p'] is a data object; list it in inputs or outputs",
        id="params-value-data",
    ),
    pytest.param(
        {"runtime_version": ""},
        ValueError,
        "AdlaStep 'clean': runtime_version must be a non-empty",
        id="runtime",
    ),
    pytest.param(
        {"compute_target": 3},
        TypeError,
        "AdlaStep 'clean': compute_target must be the Airflow connection id of the Data Lake Analytics account",
        id="compute-target-int",
    ),
    pytest.param(
        {"compute_target": "my conn"},
        TypeError,
        "AdlaStep 'clean': compute_target must be the Airflow connection id",
        id="compute-target-space",
    ),
    pytest.param(
        {"source_directory": 3},
        TypeError,
        "AdlaStep 'clean': source_directory must be a path",
        id="source-dir",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), INVALID)
def test_invalid_arguments(kwargs, error, message):
    outputs = [o for o in kwargs.get("outputs", [])]
    with pytest.raises(error) as raised:
        adla(**kwargs)
    assert str(raised.value).startswith(message), str(raised.value)
    for output in outputs:
        assert output.producers == []  # a refused step is nobody's producer


@pytest.mark.parametrize("script_name", [None, "", "  ", 3])
def test_script_name_is_required(script_name):
    with pytest.raises(ValueError, match="AdlaStep None: script_name is required"):
        AdlaStep(script_name)


@pytest.mark.parametrize("good", [1, 2, 1000, 10**6])
def test_positive_ints_are_accepted(good):
    step = adla(degree_of_parallelism=good, priority=good)
    assert (step.degree_of_parallelism, step.priority) == (good, good)


# -- usql_spec ---------------------------------------------------------------------------------------


def test_usql_spec_shape_with_a_pipeline_parameter():
    day = PipelineParameter("day", default_value="2024-01-01")
    step = adla(
        inputs=[raw()],
        outputs=[PipelineData("cleaned")],
        params={"day": day, "n": 3, "ratio": 0.5, "strict": True, "label": "x"},
        degree_of_parallelism=8,
        priority=100,
        runtime_version="release_20240101",
    )
    spec = step.usql_spec()
    assert spec == {
        "script_name": "clean.usql",
        "degree_of_parallelism": 8,
        "priority": 100,
        "runtime_version": "release_20240101",
        "params": {"day": {"parameter": "day"}, "n": "3", "ratio": "0.5", "strict": "True", "label": "x"},
    }
    assert json.loads(json.dumps(spec)) == spec
    assert step.parameters() == [day]


def test_usql_spec_defaults():
    assert adla().usql_spec() == {
        "script_name": "clean.usql",
        "degree_of_parallelism": None,
        "priority": None,
        "runtime_version": None,
        "params": {},
    }


# -- files and placeholders, through Pipeline.validate() ---------------------------------------------


def pipeline_step(folder: Path, **kwargs) -> AdlaStep:
    return adla(inputs=[raw()], outputs=[PipelineData("cleaned")], source_directory=folder, **kwargs)


def test_script_found_and_every_placeholder_known(tmp_path):
    write(tmp_path, SCRIPT + "// @@n@@ rows\nDECLARE @n int = @@n@@;\n")
    step = pipeline_step(tmp_path, params={"n": 3})
    pipeline = Pipeline([step])
    assert pipeline.validate() == []
    assert step.locate(SourceFileLookup(pipeline.base_dir)) == (
        tmp_path.resolve(),
        tmp_path.resolve() / "clean.usql",
    )
    node = pipeline.graph().node("clean")
    assert node.script_path == tmp_path.resolve() / "clean.usql"
    assert [i["name"] for i in node.inputs] == ["raw"] and [o["name"] for o in node.outputs] == ["cleaned"]


def test_script_in_the_default_source_directory(tmp_path):
    write(tmp_path, SCRIPT)
    step = adla(inputs=[raw()], outputs=[PipelineData("cleaned")])
    assert Pipeline([step], default_source_directory=tmp_path).validate() == []


def test_source_folder_missing(tmp_path):
    missing = tmp_path / "nowhere"
    assert only_problem(Pipeline([pipeline_step(missing)])) == (
        f"step 'clean': source_directory {str(missing)!r} is not a folder"
    )


def test_script_missing_from_source_folder(tmp_path):
    assert only_problem(Pipeline([pipeline_step(tmp_path)])) == (
        f"step 'clean': script_name 'clean.usql' is missing from source_directory {str(tmp_path)!r}"
    )


def test_script_missing_next_to_the_dag_file():
    pipeline = Pipeline([AdlaStep("no_such_script.usql", name="clean")])
    assert only_problem(pipeline) == (
        f"step 'clean': script_name 'no_such_script.usql' is missing from folder {str(pipeline.base_dir)!r}"
    )


def test_unknown_placeholders_are_reported_once_each(tmp_path):
    write(tmp_path, SCRIPT + '// @@foo@@\nDECLARE @x string = "@@foo@@ @@bar@@";\n')
    problems = Pipeline([pipeline_step(tmp_path, params={"n": 1})]).validate()
    assert problems == [
        "step 'clean': the U-SQL script uses @@foo@@, which is not an input, output or params name "
        "(known: cleaned, n, raw)",
        "step 'clean': the U-SQL script uses @@bar@@, which is not an input, output or params name "
        "(known: cleaned, n, raw)",
    ]


def test_unknown_placeholder_with_nothing_known(tmp_path):
    write(tmp_path, '"@@foo@@"')
    assert only_problem(Pipeline([AdlaStep("clean.usql", source_directory=tmp_path)])) == (
        "step 'clean.usql': the U-SQL script uses @@foo@@, which is not an input, output or params name "
        "(known: none)"
    )


@pytest.mark.parametrize(
    ("script", "params", "message"),
    [
        pytest.param(
            "@t = EXTRACT a string FROM @@raw@@ USING Extractors.Csv();",
            {},
            "step 'clean': @@raw@@ is replaced by a path but stands outside quotes; write \"@@raw@@\"",
            id="bare-input-path",
        ),
        pytest.param(
            "OUTPUT @t TO @@cleaned@@;",
            {},
            "step 'clean': @@cleaned@@ is replaced by a path but stands outside quotes; write \"@@cleaned@@\"",
            id="bare-output-path",
        ),
        pytest.param(
            "DECLARE @d string = @@day@@;",
            {"day": "2024-01-01"},
            "step 'clean': @@day@@ stands outside any string literal, where only a plain number or identifier "
            "is accepted, got '2024-01-01'; put the placeholder inside quotes: \"@@day@@\"",
            id="bare-literal-param",
        ),
        pytest.param(
            "DECLARE @d string = @@day@@;",
            {"day": PipelineParameter("day", "a/b")},
            "step 'clean': @@day@@ stands outside any string literal, where only a plain number or identifier "
            "is accepted, got 'a/b'; put the placeholder inside quotes: \"@@day@@\" "
            "(the default of PipelineParameter 'day')",
            id="bare-parameter-default",
        ),
        pytest.param(
            "DECLARE @c char = '@@raw@@';",
            {},
            "step 'clean': @@raw@@ is inside a char literal ('...'), which holds one character; use \"@@raw@@\"",
            id="char-literal",
        ),
        pytest.param(
            'DECLARE @s string = $"{1}"; DECLARE @r string = "@@raw@@";',
            {},
            "step 'clean': @@raw@@ comes after an interpolated string ($\"...\"), which mlpipe does not scan; "
            "build that string with + instead",
            id="after-interpolated-string",
        ),
        pytest.param(
            'DECLARE @s string = "@@note@@";',
            {"note": "two\nlines"},
            "step 'clean': @@note@@ is inside a string literal and its value contains the control character "
            "or line break U+000A, which is not allowed there",
            id="literal-param-with-newline",
        ),
    ],
)
def test_placeholder_that_cannot_work_where_it_stands(tmp_path, script, params, message):
    write(tmp_path, script)
    assert only_problem(Pipeline([pipeline_step(tmp_path, params=params)])) == message


@pytest.mark.parametrize(
    "script",
    [
        'DECLARE @n int = @@n@@; DECLARE @s string = "@@n@@";',
        "// @COPY @@raw@@ -> @@cleaned@@\n/* @@raw@@ */",
        'DECLARE @p string = @"@@raw@@";',
    ],
)
def test_placeholders_that_work_where_they_stand(tmp_path, script):
    write(tmp_path, script)
    assert Pipeline([pipeline_step(tmp_path, params={"n": PipelineParameter("n", 5)})]).validate() == []


def test_script_that_is_not_utf8(tmp_path):
    (tmp_path / "clean.usql").write_bytes(b'DECLARE @s string = "\xff\xfe";')
    problem = only_problem(Pipeline([pipeline_step(tmp_path)]))
    assert problem.startswith(
        f"step 'clean': the U-SQL script {str(tmp_path / 'clean.usql')!r} cannot be read"
    )


def test_script_with_a_byte_order_mark(tmp_path):
    (tmp_path / "clean.usql").write_text("\ufeff" + SCRIPT, encoding="utf-8")
    assert Pipeline([pipeline_step(tmp_path)]).validate() == []


def test_script_is_read_once_per_validation(tmp_path, monkeypatch):
    write(tmp_path, SCRIPT)
    reads: list[Path] = []
    original = Path.read_text

    def counting(self, *args, **kwargs):
        reads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    assert Pipeline([pipeline_step(tmp_path)]).validate() == []
    assert reads == [tmp_path.resolve() / "clean.usql"]


def test_adla_step_between_python_steps_is_ordered_by_its_data(tmp_path):
    write(tmp_path, SCRIPT)
    write(tmp_path, "print('hi')\n", "prep.py")
    write(tmp_path, "print('hi')\n", "report.py")
    staged, cleaned = PipelineData("raw"), PipelineData("cleaned")
    report = PythonScriptStep("report.py", name="report", inputs=[cleaned], source_directory=tmp_path)
    clean = AdlaStep(
        "clean.usql", name="clean", inputs=[staged], outputs=[cleaned], source_directory=tmp_path
    )
    prep = PythonScriptStep("prep.py", name="prep", outputs=[staged], source_directory=tmp_path)
    pipeline = Pipeline([report])  # producers are pulled in
    assert pipeline.validate() == []
    graph = pipeline.graph()
    assert [n.name for n in graph.nodes] == ["prep", "clean", "report"]
    assert graph.node("clean").upstream == ["prep"] and graph.node("report").upstream == ["clean"]
    assert prep.outputs == [staged] and clean.compute_target is None

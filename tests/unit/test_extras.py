"""The `databricks` and `adla` extras: without them the provider works, and their steps say what to install.

A virtualenv without an extra would take minutes to build. Instead the real interpreter runs in
a subprocess whose `sitecustomize` hides the extra's packages from the import system and its
distributions from `importlib.metadata`, as if pip had never installed them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, airflow_cli

#: What each extra installs: (top-level modules or packages, distributions).
EXTRA_PACKAGES = {
    "databricks": (["databricks.sdk"], ["databricks-sdk"]),
    # msrest, msrestazure and adal stay: apache-airflow-providers-microsoft-azure (a dependency, for
    # WasbHook) installs them too, through azure-mgmt-datalake-store.
    "adla": (["azure.mgmt.datalake.analytics"], ["azure-mgmt-datalake-analytics"]),
}

HIDER = '''
"""Hide some installed packages: their modules cannot be imported, their distributions are not listed.

Every finder on sys.meta_path is wrapped, also those added later (importlib_metadata, which
Airflow imports, appends its own distribution finder).
"""
import os
import sys
from importlib.metadata import DistributionFinder

MODULES = tuple(filter(None, os.environ.get("MLPIPE_TEST_HIDDEN_MODULES", "").split(",")))
DISTRIBUTIONS = set(filter(None, os.environ.get("MLPIPE_TEST_HIDDEN_DISTRIBUTIONS", "").split(",")))


def _hidden(name):
    return any(name == module or name.startswith(module + ".") for module in MODULES)


class Hiding:
    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        find_spec = getattr(self.inner, "find_spec", None)
        if _hidden(name) or find_spec is None:
            return None
        return find_spec(name, path, target)

    def find_distributions(self, context=DistributionFinder.Context()):
        find = getattr(self.inner, "find_distributions", None)
        for distribution in find(context) if find is not None else ():
            if distribution.metadata["Name"].lower().replace("_", "-") not in DISTRIBUTIONS:
                yield distribution

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __eq__(self, other):
        return other is self or other is self.inner

    def __hash__(self):
        return id(self.inner)


def _wrap(finder):
    return finder if isinstance(finder, Hiding) else Hiding(finder)


class HidingList(list):
    def append(self, finder):
        super().append(_wrap(finder))

    def insert(self, index, finder):
        super().insert(index, _wrap(finder))


sys.meta_path = HidingList(_wrap(finder) for finder in sys.meta_path)
'''


def hiding_env(tmp_path: Path, *extras: str) -> dict[str, str]:
    """Environment for a subprocess in which the given extras are not installed."""
    folder = tmp_path / "hider"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(HIDER)
    modules = [m for extra in extras for m in EXTRA_PACKAGES[extra][0]]
    distributions = [d for extra in extras for d in EXTRA_PACKAGES[extra][1]]
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
        "MLPIPE_TEST_HIDDEN_MODULES": ",".join(modules),
        "MLPIPE_TEST_HIDDEN_DISTRIBUTIONS": ",".join(distributions),
    }


def run_python(code: str, env: dict[str, str]) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object last."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


#: A DAG file per remote step kind, next to a PythonScriptStep; {project} is its source folder.
STEP_DAGS = {
    "databricks": """
        from airflow_provider_mlpipe import DatabricksStep, Pipeline, PipelineData, PythonScriptStep
        data = PipelineData("data")
        prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", data], outputs=[data], source_directory="project")
        featurize = DatabricksStep(name="featurize", notebook_path="/Users/me/featurize", inputs=[data], existing_cluster_id="0101-abc")
        dag = Pipeline([prep, featurize]).to_dag("with_databricks")
    """,
    "adla": """
        from airflow_provider_mlpipe import AdlaStep, Pipeline, PipelineData, PythonScriptStep
        data = PipelineData("data")
        prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", data], outputs=[data], source_directory="project")
        summarize = AdlaStep("summarize.usql", name="summarize", inputs=[data], source_directory="project")
        dag = Pipeline([prep, summarize]).to_dag("with_adla")
    """,
}
STEP_KINDS = {"databricks": "DatabricksStep 'featurize'", "adla": "AdlaStep 'summarize'"}
PYTHON_ONLY_DAG = """
    from airflow_provider_mlpipe import Pipeline, PipelineData, PythonScriptStep
    data = PipelineData("data")
    prep = PythonScriptStep("prep.py", name="prep", arguments=["--out", data], outputs=[data], source_directory="project")
    dag = Pipeline([prep]).to_dag("python_only")
"""


def write_dags(folder: Path) -> Path:
    """The DAG files above and their project folder; returns the folder."""
    project = folder / "project"
    project.mkdir(parents=True)
    (project / "prep.py").write_text("print('prep')\n")
    (project / "summarize.usql").write_text(
        '@rows = EXTRACT a string FROM "@@data@@" USING Extractors.Csv();\n'
    )
    for extra, body in STEP_DAGS.items():
        (folder / f"with_{extra}.py").write_text(textwrap.dedent(body))
    (folder / "python_only.py").write_text(textwrap.dedent(PYTHON_ONLY_DAG))
    return folder


PARSE = """
    import importlib, json
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={folder!r})
    hidden = {{}}
    for module in ("databricks.sdk", "azure.mgmt.datalake.analytics", "msrestazure"):
        try:
            importlib.import_module(module)
            hidden[module] = False
        except ModuleNotFoundError:
            hidden[module] = True
    errors = {{path.rsplit("/", 1)[-1]: text for path, text in bag.import_errors.items()}}
    print(json.dumps({{"errors": errors, "dags": sorted(bag.dag_ids), "hidden": hidden}}))
"""


@pytest.mark.parametrize("extra", ["databricks", "adla"])
def test_a_step_whose_extra_is_missing_is_its_dag_files_import_error_with_the_pip_line(tmp_path, extra):
    from airflow.dag_processing.dagbag import DagBag

    folder = write_dags(tmp_path / "dags")
    installed = DagBag(dag_folder=str(folder))
    assert installed.import_errors == {}, "with every extra installed, all files parse"

    parsed = run_python(PARSE.format(folder=str(folder)), hiding_env(tmp_path, extra))

    assert parsed["hidden"]["databricks.sdk"] is (extra == "databricks"), parsed["hidden"]
    assert parsed["hidden"]["azure.mgmt.datalake.analytics"] is (extra == "adla"), parsed["hidden"]
    assert set(parsed["errors"]) == {f"with_{extra}.py"}, parsed["errors"]
    error = parsed["errors"][f"with_{extra}.py"].strip().splitlines()[-1]
    assert f"{STEP_KINDS[extra]} needs the provider's '{extra}' extra" in error, error
    assert error.endswith(f"pip install 'airflow-provider-mlpipe[{extra}]'"), error
    assert "python_only" in parsed["dags"], "the other DAG files still parse"
    if extra == "databricks":
        readme = " ".join((REPO / "README.md").read_text().split())
        assert error.split(": ", 1)[1] in readme, "README's Installing section quotes this error"


ALL_OTHER_THINGS = """
    import importlib, json
    from airflow.providers_manager import ProvidersManager
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow_provider_mlpipe.get_provider_info import get_provider_info
    from airflow_provider_mlpipe.extras import MissingExtraError
    from airflow_provider_mlpipe.hooks.adla import AdlaHook
    from airflow_provider_mlpipe.hooks.databricks import DatabricksHook

    info = get_provider_info()
    modules = [m for group in ("operators", "hooks", "triggers") for entry in info[group] for m in entry["python-modules"]]
    for module in modules:
        importlib.import_module(module)
    for link in info["extra-links"]:
        module, name = link.rsplit(".", 1)
        getattr(importlib.import_module(module), name)()
    manager = ProvidersManager()
    hooks = {{t: manager.hooks[t].hook_class_name for t in ("mlpipe_local", "mlpipe_adla") if manager.hooks.get(t)}}
    form = {{meta.connection_type: meta.hook_name for meta in HookMetaService.hook_meta_data()}}
    run_time = {{}}
    calls = {{
        "AdlaHook.get_conn": AdlaHook("adla_default").get_conn,
        "DatabricksHook.get_conn": DatabricksHook("databricks_default").get_conn,
        "DatabricksHook.submit": lambda: DatabricksHook("databricks_default").submit("run", {{}}, "token", None),
    }}
    for name, call in calls.items():
        try:
            call()
        except MissingExtraError as error:
            run_time[name] = str(error)
    print(json.dumps({{"modules": len(modules), "hooks": hooks, "form": form, "run_time": run_time}}))
"""


def test_without_any_extra_the_provider_its_hooks_forms_and_other_steps_work(tmp_path):
    env = hiding_env(tmp_path, "databricks", "adla")
    checked = run_python(ALL_OTHER_THINGS.format(), env)

    assert checked["modules"] >= 10
    assert checked["hooks"] == {
        "mlpipe_local": "airflow_provider_mlpipe.hooks.local_folder.LocalFolderDatastoreHook",
        "mlpipe_adla": "airflow_provider_mlpipe.hooks.adla.AdlaHook",
    }
    assert {"mlpipe_local", "mlpipe_adla"} <= set(checked["form"]), "the connection form lists both types"
    for call, extra in (
        ("AdlaHook.get_conn", "adla"),
        ("DatabricksHook.get_conn", "databricks"),
        ("DatabricksHook.submit", "databricks"),
    ):
        message = checked["run_time"].get(call, f"{call}() raised no MissingExtraError")
        assert message.endswith(f"pip install 'airflow-provider-mlpipe[{extra}]'"), message

    folder = write_dags(tmp_path / "dags")
    parsed = run_python(PARSE.format(folder=str(folder)), env)
    assert "python_only" in parsed["dags"] and "python_only.py" not in parsed["errors"]


@pytest.mark.integration
def test_the_airflow_cli_lists_the_provider_and_its_hooks_without_any_extra(tmp_path):
    env = hiding_env(tmp_path, "databricks", "adla")
    providers = airflow_cli("providers", "list", "-o", "json", env=env)
    assert providers.returncode == 0, providers.stderr[-2000:]
    assert any(p["package_name"] == "airflow-provider-mlpipe" for p in json.loads(providers.stdout))

    hooks = airflow_cli("providers", "hooks", "-o", "json", env=env)
    assert hooks.returncode == 0, hooks.stderr[-2000:]
    types = {h.get("connection_type") for h in json.loads(hooks.stdout)}
    assert {"mlpipe_local", "mlpipe_adla"} <= types
    assert "mlpipe" not in hooks.stderr, hooks.stderr[-2000:]


def test_pyproject_declares_the_extras_the_provider_checks_for():
    tomllib = pytest.importorskip("tomllib")
    from airflow_provider_mlpipe.extras import EXTRAS

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["optional-dependencies"]
    for extra, distributions in EXTRAS.items():
        names = [requirement.split(">")[0].split("=")[0].strip() for requirement in declared[extra]]
        assert names == list(distributions), extra
        assert not set(names) & {d.split(">")[0].strip() for d in project["dependencies"]}, extra
    assert "airflow-provider-mlpipe[adla,databricks]" in declared["test"], "the suite installs every extra"

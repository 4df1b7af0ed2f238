"""PythonScriptStep behaviour in real task runs: data modes, parameters, snapshots, failures, kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER
from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

PROBE = """
    import json, os, sys
    out = sys.argv[sys.argv.index("--out") + 1]
    os.makedirs(out, exist_ok=True)
    report = {
        "argv": sys.argv[1:],
        "env": {k: v for k, v in os.environ.items() if k.startswith(("AML_PARAMETER_", "AZUREML_DATAREFERENCE_"))},
        "files": sorted(os.listdir(os.path.dirname(os.path.abspath(__file__)))),
    }
    for index, arg in enumerate(sys.argv):
        if arg == "--read":
            path = sys.argv[index + 1]
            report.setdefault("read", []).append(
                sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()
            )
    with open(os.path.join(out, "report.json"), "w") as handle:
        json.dump(report, handle)
"""


def read_report(record: dict) -> dict:
    return json.loads((Path(record["uri"][len("file://") :]) / "report.json").read_text())


def test_data_reference_modes_parameters_and_snapshot(embedded_datastore_root):
    raw = embedded_datastore_root / "raw"
    (raw / "folder").mkdir(parents=True, exist_ok=True)
    (raw / "folder" / "part-0.csv").write_text("a,b\n")
    (raw / "one.txt").write_text("single file")
    dag_file = write_project(
        "modes",
        """
        from airflow_provider_mlpipe import (
            DataReference, Datastore, Pipeline, PipelineData, PipelineParameter, PythonScriptStep,
        )
        store = Datastore.default()
        folder = DataReference(store, "raw_folder", "raw/folder", mode="download")
        single = DataReference(store, "raw_file", "raw/one.txt")  # mount: read in place
        out = PipelineData("out")
        rate = PipelineParameter("rate", 0.5)
        flag = PipelineParameter("flag", True)
        step = PythonScriptStep(
            "probe.py", name="probe step", source_directory="modes_src",
            arguments=["--read", folder, "--read", single, "--out", out, "--rate", rate],
            inputs=[folder, single], outputs=[out], params={"flag": flag, "fixed-value": 7},
        )
        dag = Pipeline([step]).to_dag("modes")
        """,
        {
            "probe.py": PROBE,
            "helper.py": "",
            "notes/secret.txt": "never copied",
            "ignored_by_git.txt": "copied: .amlignore wins over .gitignore",
            ".amlignore": "notes/\n*.log\n",
            ".gitignore": "ignored_by_git.txt\n",
            "debug.log": "ignored",
        },
    )
    dag_run = run_dag(dag_file, "modes", conf={"rate": 0.25})
    assert task_states(dag_run) == {"probe_step": "success"}
    report = read_report(xcom_value(dag_run, "probe_step")["out"])

    argv = report["argv"]
    downloaded, in_place = argv[1], argv[3]
    assert "/inputs/raw_folder" in downloaded and not downloaded.startswith(str(embedded_datastore_root))
    assert in_place == str(embedded_datastore_root / "raw" / "one.txt")
    assert report["read"] == [["part-0.csv"], "single file"]
    assert argv[-2:] == ["--rate", "0.25"]
    assert report["env"]["AML_PARAMETER_flag"] == "True"
    assert report["env"]["AML_PARAMETER_fixed_value"] == "7"
    assert report["env"]["AZUREML_DATAREFERENCE_raw_file"] == in_place
    assert report["files"] == [".amlignore", ".gitignore", "helper.py", "ignored_by_git.txt", "probe.py"]


def test_pipeline_data_download_file_output_and_task_group():
    dag_file = write_project(
        "chain",
        """
        from airflow.sdk import DAG
        from airflow_provider_mlpipe import Pipeline, PipelineData, PythonScriptStep
        model = PipelineData("model", is_directory=False)
        out = PipelineData("out")
        write = PythonScriptStep("write.py", name="write", arguments=[model], outputs=[model], source_directory="chain_src")
        read = PythonScriptStep(
            "probe.py", name="read", arguments=["--read", model.as_download(), "--out", out],
            inputs=[model.as_download()], outputs=[out], source_directory="chain_src",
        )
        with DAG("chain", schedule=None) as dag:
            Pipeline([write, read]).to_task_group("ml")
        """,
        {"probe.py": PROBE, "write.py": "import sys\nopen(sys.argv[1], 'w').write('weights')\n"},
    )
    dag_run = run_dag(dag_file, "chain")
    assert task_states(dag_run) == {"ml.write": "success", "ml.read": "success"}
    model = xcom_value(dag_run, "ml.write")["model"]
    assert model["is_directory"] is False and model["producer"]["task_id"] == "ml.write"
    report = read_report(xcom_value(dag_run, "ml.read")["out"])
    assert report["read"] == ["weights"]
    assert "/inputs/model/model" in report["argv"][1]


def test_a_failing_script_fails_its_task_with_exit_code_and_stderr_and_publishes_nothing(
    capfd, embedded_datastore_root
):
    dag_file = write_project(
        "failing",
        """
        from airflow_provider_mlpipe import Pipeline, PipelineData, PythonScriptStep
        out = PipelineData("out")
        fail = PythonScriptStep("fail.py", name="fail", arguments=[out], outputs=[out], source_directory="failing_src")
        after = PythonScriptStep("fail.py", name="after", inputs=[out], source_directory="failing_src")
        dag = Pipeline([fail, after]).to_dag("failing")
        """,
        {
            "fail.py": """
                import os, sys
                os.makedirs(sys.argv[1], exist_ok=True)
                open(os.path.join(sys.argv[1], "half.txt"), "w").write("half-written")
                print("the model diverged", file=sys.stderr)
                sys.exit(3)
            """
        },
    )
    dag_run = run_dag(dag_file, "failing")
    captured = capfd.readouterr()
    assert str(dag_run.state) == "failed"
    assert task_states(dag_run) == {"fail": "failed", "after": "upstream_failed"}
    log = captured.out + captured.err
    assert "step 'fail': script fail.py exited with code 3; last lines of stderr:" in log
    assert "the model diverged" in log
    assert xcom_value(dag_run, "fail") is None
    assert not list((embedded_datastore_root / "mlpipe" / "failing").rglob("half.txt"))


def test_killing_the_task_kills_the_whole_process_tree(airflow_home):
    pids_file = airflow_home / "kill-pids.txt"
    write_project(
        "killed",
        f"""
        from airflow_provider_mlpipe import Pipeline, PythonScriptStep
        step = PythonScriptStep("spawn.py", name="spawn", arguments=[{str(pids_file)!r}], source_directory="killed_src")
        dag = Pipeline([step]).to_dag("killed")
        """,
        {
            "spawn.py": """
                import os, subprocess, sys, time
                child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
                with open(sys.argv[1] + ".part", "w") as handle:
                    handle.write(f"{os.getpid()} {child.pid}")
                os.replace(sys.argv[1] + ".part", sys.argv[1])
                time.sleep(120)
            """
        },
    )
    airflow = str(Path(sys.executable).with_name("airflow"))
    task = subprocess.Popen(
        [airflow, "tasks", "test", "killed", "spawn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not pids_file.exists():
            assert task.poll() is None, task.stdout.read()
            assert time.monotonic() < deadline, "the script never started"
            time.sleep(0.2)
        script_pid, child_pid = (int(p) for p in pids_file.read_text().split())
        task.send_signal(signal.SIGTERM)
        output, _ = task.communicate(timeout=60)
    finally:
        if task.poll() is None:
            task.kill()
    assert "killing the script's process tree" in output
    for pid in (script_pid, child_pid):
        assert _gone(pid, within=10), f"process {pid} survived the kill"


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if _is_zombie(pid):
            return True
        time.sleep(0.2)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_dags_folder_is_the_test_folder():
    assert Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) == DAGS_FOLDER


def test_the_in_process_execution_api_is_built_once():
    from airflow.sdk.execution_time import supervisor

    assert supervisor.in_process_api_server() is supervisor.in_process_api_server()


def test_a_step_can_name_another_interpreter(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    dag_file = write_project(
        "interpreter",
        f"""
        from airflow_provider_mlpipe import Pipeline, PipelineData, PythonScriptStep
        out = PipelineData("out")
        step = PythonScriptStep(
            "where.py", name="where", arguments=[out], outputs=[out], source_directory="interpreter_src",
            python_interpreter={str(venv / "bin" / "python")!r},
        )
        dag = Pipeline([step]).to_dag("interpreter")
        """,
        {
            "where.py": "import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\nopen(os.path.join(sys.argv[1], 'prefix'), 'w').write(sys.prefix)\n"
        },
    )
    dag_run = run_dag(dag_file, "interpreter")
    record = xcom_value(dag_run, "where")["out"]
    assert (Path(record["uri"][len("file://") :]) / "prefix").read_text() == str(venv)


def test_continue_on_step_failure_per_pipeline_and_per_run():
    dag_file = write_project(
        "stop_or_go",
        """
        from airflow_provider_mlpipe import Pipeline, PipelineData, PythonScriptStep
        data = PipelineData("data")
        bad = PythonScriptStep("fail.py", name="bad", source_directory="stop_or_go_src")
        other = PythonScriptStep("ok.py", name="other", arguments=[data], outputs=[data], source_directory="stop_or_go_src")
        later = PythonScriptStep("ok.py", name="later", arguments=[data], inputs=[data], source_directory="stop_or_go_src", allow_reuse=False)
        dag = Pipeline([bad, other, later]).publish("stop_or_go")
        """,
        {
            "fail.py": "import sys\nsys.exit(1)\n",
            "ok.py": "import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\nopen(os.path.join(sys.argv[1], 'x'), 'w').write('x')\n",
        },
    )
    stopped = run_dag(dag_file, "stop_or_go")
    assert task_states(stopped)["bad"] == "failed" and task_states(stopped)["later"] == "skipped"
    going = run_dag(dag_file, "stop_or_go", conf={"continue_on_step_failure": True})
    assert task_states(going) == {"bad": "failed", "other": "success", "later": "success"}

"""AdlaStep for real: the real azure-mgmt-datalake-analytics client over HTTP against the ADLA stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER, REPO
from tests.integration.dagruns import run_dag, task_states, write_project, xcom_value

pytestmark = pytest.mark.integration

EXAMPLE_ID = "mlpipe_adla_example"


def example_file() -> Path:
    target = DAGS_FOLDER / f"{EXAMPLE_ID}.py"
    if not target.exists():
        target.symlink_to(REPO / "dags" / f"{EXAMPLE_ID}.py")
    return target


def submitted(standin) -> list[dict]:
    return [body for method, path, body in standin.requests if method == "PUT"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_example_runs_usql_between_python_steps(adla_default, monkeypatch, deferrable):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag_run = run_dag(example_file(), EXAMPLE_ID, conf={"min_alcohol": 12.5, "regenerate_outputs": True})

    assert task_states(dag_run) == {"prep": "success", "summarize": "success", "report": "success"}
    [job] = submitted(adla_default)
    script = job["properties"]["script"]
    prepared = xcom_value(dag_run, "prep")["prepared"]
    summary = xcom_value(dag_run, "summarize")["summary"]
    prepared_path = prepared["uri"].removeprefix("file://")
    assert re.search(r"@@\w+@@", script) is None, "every placeholder was replaced"
    assert f'FROM "{prepared_path}/wine.csv"' in script
    assert "WHERE alcohol >= 12.5" in script
    assert (job["degreeOfParallelism"], job["priority"]) == (2, 100)
    assert (Path(summary["uri"].removeprefix("file://")) / "summary.csv").is_file()
    report = json.loads(
        (
            Path(xcom_value(dag_run, "report")["report"]["uri"].removeprefix("file://")) / "report.json"
        ).read_text()
    )
    assert report["rows"] == 178
    job_id = xcom_value(dag_run, "summarize", key="adla_job_id")
    assert job_id in adla_default.jobs, "the job id is kept in XCom, through deferral too"
    assert (
        xcom_value(dag_run, "summarize", key="_link_AdlaJobLink")
        == f"{adla_default.url}/{adla_default.account}/jobs/{job_id}"
    )


def test_an_unchanged_adla_step_submits_nothing(adla_default):
    run_dag(example_file(), EXAMPLE_ID, conf={"min_alcohol": 13.0})
    count = len(submitted(adla_default))
    again = run_dag(example_file(), EXAMPLE_ID, conf={"min_alcohol": 13.0})
    assert task_states(again)["summarize"] == "success" and len(submitted(adla_default)) == count


def usql_project(name: str, script: str, params: str = "{}") -> Path:
    return write_project(
        name,
        f"""
        from airflow_provider_mlpipe import AdlaStep, Pipeline, PipelineParameter
        label = PipelineParameter("label", "benign")
        step = AdlaStep("job.usql", name="usql", source_directory="{name}_src", params={params})
        dag = Pipeline([step]).to_dag("{name}")
        """,
        {"job.usql": script},
    )


def test_a_failed_job_fails_the_task_with_its_errors(adla_default, capfd):
    dag_run = run_dag(usql_project("adla_failing", "// @FAIL\n@x = SELECT * FROM @y;\n"), "adla_failing")
    log = capfd.readouterr().out
    assert task_states(dag_run) == {"usql": "failed"}
    assert "ADLA job" in log and "ended Failed" in log
    assert "E_CSC_USER_SYNTAXERROR (line 3): syntax error" in log


def test_hostile_parameter_values_cannot_break_out_of_their_literal(adla_default, capfd):
    script = '@x = SELECT "@@label@@" AS label FROM @rows;\n'
    dag_file = usql_project("adla_hostile", script, '{"label": label}')
    hostile = '"; DROP TABLE master.dbo.t; //'
    dag_run = run_dag(dag_file, "adla_hostile", conf={"label": hostile})
    assert task_states(dag_run) == {"usql": "success"}
    [job] = submitted(adla_default)
    assert (
        job["properties"]["script"] == '@x = SELECT "\\"; DROP TABLE master.dbo.t; //" AS label FROM @rows;\n'
    )

    bare = usql_project("adla_bare", "@x = SELECT * FROM @rows WHERE id == @@label@@;\n", '{"label": label}')
    failed = run_dag(bare, "adla_bare", conf={"label": "1; DROP TABLE t"})
    assert task_states(failed) == {"usql": "failed"}
    assert len(submitted(adla_default)) == 1, "a rejected value submits no job"
    assert "@@label@@" in capfd.readouterr().out


def test_killing_the_task_cancels_the_job(adla_default):
    usql_project("adla_killed", "// @HANG\n@x = SELECT 1 AS one FROM @y;\n")
    task = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "tasks", "test", "adla_killed", "usql"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not [j for j in adla_default.jobs.values() if j.state == "Running"]:
            assert task.poll() is None, task.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.2)
        [job_id] = list(adla_default.jobs)
        task.send_signal(signal.SIGTERM)
        output, _ = task.communicate(timeout=60)
    finally:
        if task.poll() is None:
            task.kill()
    assert f"cancelling ADLA job {job_id}" in output
    assert adla_default.jobs[job_id].result == "Cancelled"


def test_the_trigger_round_trips_and_cancels_in_on_kill(adla_default):
    from airflow_provider_mlpipe.hooks.adla import AdlaHook
    from airflow_provider_mlpipe.triggers.adla import AdlaJobTrigger

    job_id = AdlaHook().submit("hang", "// @HANG\n", 1, 100, None)
    classpath, kwargs = AdlaJobTrigger(job_id, "adla_default", 0.05).serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, name = classpath.rsplit(".", 1)
    trigger = getattr(__import__(module, fromlist=[name]), name)(**kwargs)

    async def first_event_or_timeout():
        try:
            return await asyncio.wait_for(trigger.run().__anext__(), timeout=1.0)
        except TimeoutError:
            return None

    assert asyncio.run(first_event_or_timeout()) is None
    asyncio.run(trigger.on_kill())
    event = asyncio.run(trigger.run().__anext__())
    assert (event.payload["state"], event.payload["result"]) == ("Ended", "Cancelled")
    with pytest.raises(ValueError):
        AdlaJobTrigger("", "adla_default")


def test_the_token_credential_adapter_refreshes_before_expiry():
    from airflow_provider_mlpipe.hooks.adla import TOKEN_MARGIN_SECONDS, token_authentication

    class Credential:
        calls = 0

        def get_token(self, *scopes):
            from azure.core.credentials import AccessToken

            Credential.calls += 1
            assert scopes == ("https://datalake.azure.net/.default",)
            return AccessToken(
                f"t{Credential.calls}",
                int(time.time()) + TOKEN_MARGIN_SECONDS + (2 if Credential.calls == 1 else 3600),
            )

    auth = token_authentication(Credential())
    assert auth.signed_session().headers["Authorization"] == "Bearer t1"
    time.sleep(2.1)  # the first token is now inside the refresh margin
    assert auth.signed_session().headers["Authorization"] == "Bearer t2"
    assert auth.signed_session().headers["Authorization"] == "Bearer t2"


def test_test_connection_lists_one_job_and_reports_the_service_reason(adla_default, monkeypatch):
    from airflow_provider_mlpipe.hooks.adla import AdlaHook

    endpoint = f"{adla_default.url}/{adla_default.account}"
    assert AdlaHook().test_connection() == (
        True,
        f"ADLA account 'testadla' at {endpoint} answered (no jobs yet).",
    )
    AdlaHook().submit("first", "// a U-SQL script", None, None, None)
    ok, message = AdlaHook().test_connection()
    assert ok and message.endswith("answered (latest job: 'first', Accepted).")
    assert adla_default.requests[-1] == (
        "GET",
        "/testadla/jobs",
        {"$top": "1", "api-version": "2017-09-01-preview"},
    )

    def connection(**changes):
        fields = {"conn_type": "mlpipe_adla", "host": adla_default.account, **changes}
        fields["extra"] = {
            "base_url": adla_default.url,
            "access_token": adla_default.token,
            **fields.get("extra", {}),
        }
        monkeypatch.setenv("AIRFLOW_CONN_ADLA_DEFAULT", json.dumps(fields))
        return AdlaHook().test_connection()

    assert connection(extra={"access_token": "expired"}) == (
        False,
        f"ADLA account 'testadla' at {endpoint}: Authentication failed: missing or invalid token.",
    )
    ok, message = connection(host="other")
    assert not ok and message.endswith("Account 'other' not found.")
    assert connection(host="") == (
        False,
        "ADLA: ADLA connection 'adla_default' names no account: fill in \"Account name\" (host)",
    )

"""The ADLA job API stand-in, driven over HTTP by the REAL azure-mgmt-datalake-analytics 0.6.0 client.

azure / msrest are imported inside the tests: the project bans them at module level (see pyproject.toml).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported by pytest_plugins first, so pytest rewrites its asserts
    from tests.services.adla_standin import AdlaStandIn

pytest_plugins = ["tests.services.adla_standin"]  # the `adla_standin` fixture

ACCOUNT = "testadla"
SCRIPT = """@rows = EXTRACT a int FROM "/in.csv" USING Extractors.Csv();
OUTPUT @rows TO "/out.csv" USING Outputters.Csv();
"""


def value(x: Any) -> str:
    """state/result come back as enum members or plain strings, depending on msrest's mood."""
    return str(x.value if hasattr(x, "value") else x)


def client(standin: AdlaStandIn, token: str | None = None):
    """A real job client with a bearer-token msrest Authentication, as the provider builds it."""
    from azure.mgmt.datalake.analytics.job import DataLakeAnalyticsJobManagementClient
    from msrest.authentication import Authentication

    class BearerToken(Authentication):
        def __init__(self, token: str) -> None:
            self.token = token

        def signed_session(self, session=None):
            session = super().signed_session(session)
            session.headers["Authorization"] = f"Bearer {self.token}"
            return session

    job_client = DataLakeAnalyticsJobManagementClient(
        BearerToken(token or standin.token), "azuredatalakeanalytics.net"
    )
    job_client.config.base_url = f"{standin.url}/{{accountName}}"
    return job_client


def submit(job_client: Any, script: str, job_id: str | None = None, name: str = "standin-test"):
    from azure.mgmt.datalake.analytics.job.models import CreateJobParameters, CreateUSqlJobProperties

    parameters = CreateJobParameters(
        type="USql",
        name=name,
        degree_of_parallelism=1,
        priority=100,
        properties=CreateUSqlJobProperties(script=script, runtime_version=None),
    )
    return job_client.job.create(ACCOUNT, job_id or str(uuid.uuid4()), parameters)


def wait_ended(job_client: Any, job_id: str, timeout: float = 5.0) -> tuple[Any, list[str]]:
    """Poll job.get until Ended; returns the last JobInformation and the states seen."""
    deadline, seen = time.monotonic() + timeout, []
    while True:
        job = job_client.job.get(ACCOUNT, job_id)
        seen.append(value(job.state))
        if seen[-1] == "Ended":
            return job, seen
        assert time.monotonic() < deadline, f"job {job_id} still {seen[-1]}"
        time.sleep(0.01)


def test_succeeds_through_every_state(adla_standin: AdlaStandIn) -> None:
    job_client = client(adla_standin)
    created = submit(job_client, SCRIPT, name="happy")
    assert (value(created.state), value(created.result)) == ("Accepted", "None")
    assert (created.name, created.degree_of_parallelism, created.priority) == ("happy", 1, 100)
    assert created.properties.script == SCRIPT and created.submit_time is not None

    job, seen = wait_ended(job_client, created.job_id)
    assert seen == ["Compiling", "Queued", "Scheduling", "Starting", "Running", "Ended"]
    assert value(job.result) == "Succeeded" and not job.error_message
    assert job.start_time <= job.end_time
    method, path, body = adla_standin.requests[0]
    assert (method, path) == ("PUT", f"/{ACCOUNT}/jobs/{created.job_id}")
    assert body["type"] == "USql" and body["properties"] == {"type": "USql", "script": SCRIPT}
    assert adla_standin.requests[-1] == (
        "GET",
        f"/{ACCOUNT}/jobs/{created.job_id}",
        {"api-version": "2017-09-01-preview"},
    )


def test_fail_marker_reports_error_details(adla_standin: AdlaStandIn) -> None:
    job_client = client(adla_standin)
    created = submit(job_client, SCRIPT + "// @FAIL\n")
    job, _ = wait_ended(job_client, created.job_id)
    assert value(job.result) == "Failed"
    [error] = job.error_message
    assert error.error_id == "E_CSC_USER_SYNTAXERROR" and error.line_number == 3
    assert error.message.startswith("syntax error") and value(error.severity) == "Error"


def test_hang_until_cancelled(adla_standin: AdlaStandIn) -> None:
    job_client = client(adla_standin)
    job_id = submit(job_client, "// @HANG\n" + SCRIPT).job_id
    for _ in range(10):
        job_client.job.get(ACCOUNT, job_id)
    assert value(job_client.job.get(ACCOUNT, job_id).state) == "Running"

    poller = job_client.job.cancel(ACCOUNT, job_id, polling=False)
    assert poller.result() is None
    job, seen = wait_ended(job_client, job_id)
    assert seen == ["Ended"] and value(job.result) == "Cancelled"
    assert ("POST", f"/{ACCOUNT}/jobs/{job_id}/CancelJob", {"api-version": "2017-09-01-preview"}) in (
        adla_standin.requests
    )
    job_client.job.cancel(ACCOUNT, job_id, polling=False).result()  # cancelling an ended job: no-op
    assert value(job_client.job.get(ACCOUNT, job_id).result) == "Cancelled"


def test_copy_lines_move_data(adla_standin: AdlaStandIn, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "sub" / "part-0.csv").write_text("x\n")
    script = (
        f"// @COPY {tmp_path / 'in.csv'} -> {tmp_path / 'out' / 'deep' / 'copied.csv'}\n"
        f"//   @COPY   {tmp_path / 'folder'}   ->   {tmp_path / 'out' / 'folder'}\n" + SCRIPT
    )
    job_client = client(adla_standin)
    job_id = submit(job_client, script).job_id
    job_client.job.get(ACCOUNT, job_id)  # Compiling: nothing copied before the job ends
    assert not (tmp_path / "out").exists()
    job, _ = wait_ended(job_client, job_id)
    assert value(job.result) == "Succeeded"
    assert (tmp_path / "out" / "deep" / "copied.csv").read_text() == "a,b\n1,2\n"
    assert (tmp_path / "out" / "folder" / "sub" / "part-0.csv").read_text() == "x\n"

    missing = submit(job_client, f"// @COPY {tmp_path / 'nope.csv'} -> {tmp_path / 'x.csv'}\n" + SCRIPT)
    job, _ = wait_ended(job_client, missing.job_id)
    assert value(job.result) == "Failed" and job.error_message[0].error_id == "E_STORE_USER_FILENOTFOUND"


def test_errors_are_cloud_errors(adla_standin: AdlaStandIn) -> None:
    from msrestazure.azure_exceptions import CloudError

    job_client = client(adla_standin)
    job_id = submit(job_client, SCRIPT).job_id
    with pytest.raises(CloudError) as duplicate:
        submit(job_client, SCRIPT, job_id=job_id)
    assert duplicate.value.status_code == 409 and duplicate.value.error.error == "JobAlreadyExists"
    assert duplicate.value.request_id

    with pytest.raises(CloudError) as unknown:
        job_client.job.get(ACCOUNT, str(uuid.uuid4()))
    assert unknown.value.status_code == 404 and unknown.value.error.error == "JobNotFound"
    with pytest.raises(CloudError) as unknown_cancel:
        job_client.job.cancel(ACCOUNT, str(uuid.uuid4()), polling=False)
    assert unknown_cancel.value.error.error == "JobNotFound"

    with pytest.raises(CloudError) as unauthenticated:
        client(adla_standin, token="wrong").job.get(ACCOUNT, job_id)
    assert unauthenticated.value.status_code == 401
    assert unauthenticated.value.error.error == "AuthenticationFailed"
    assert adla_standin.jobs[job_id].state == "Accepted"  # the refused GET did not advance it


def test_wait_until_and_time_based_steps() -> None:
    from tests.services.adla_standin import AdlaStandIn

    with AdlaStandIn(token="other", step_seconds=0.02) as standin:
        job_client = client(standin)
        job_id = submit(job_client, "// @HANG\n" + SCRIPT).job_id
        assert standin.wait_until(None, "Running", timeout=5).job_id == job_id  # no polls needed
        job_client.job.cancel(ACCOUNT, job_id, polling=False)
        assert standin.wait_until(job_id, "Ended", timeout=5).result == "Cancelled"
        with pytest.raises(TimeoutError):
            standin.wait_until(job_id, "Running", timeout=0.1)


def test_job_list_newest_first_without_script(adla_standin: AdlaStandIn) -> None:
    job_client = client(adla_standin)
    assert list(job_client.job.list(ACCOUNT, top=1)) == []
    ids = [submit(job_client, SCRIPT, name=f"job{n}").job_id for n in range(3)]

    [newest] = job_client.job.list(ACCOUNT, top=1)
    assert (newest.job_id, newest.name, value(newest.state)) == (ids[2], "job2", "Accepted")
    assert [job.job_id for job in job_client.job.list(ACCOUNT, top=1, skip=1)] == [ids[1]]
    assert [job.job_id for job in job_client.job.list(ACCOUNT)] == ids[::-1]
    assert ("GET", f"/{ACCOUNT}/jobs", {"$top": "1", "api-version": "2017-09-01-preview"}) in (
        adla_standin.requests
    )


def test_job_list_refuses_what_it_cannot_honour(adla_standin: AdlaStandIn) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {adla_standin.token}"}
    url = f"{adla_standin.url}/{ACCOUNT}/jobs"
    for query, code in (
        ({"$top": "0"}, "InvalidQueryParameterValue"),
        ({"$skip": "x"}, "InvalidQueryParameterValue"),
        ({"$filter": "result eq 'Failed'"}, "InvalidQueryParameter"),
    ):
        response = httpx.get(url, params={"api-version": "2017-09-01-preview", **query}, headers=headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == code, query
    assert httpx.get(url, params={"api-version": "2017-09-01-preview"}).status_code == 401
    assert httpx.get(url, params={"api-version": "2016-11-01"}, headers=headers).status_code == 400
    assert httpx.put(url, params={"api-version": "2017-09-01-preview"}, headers=headers).status_code == 404

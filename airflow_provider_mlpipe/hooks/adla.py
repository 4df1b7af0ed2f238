"""`AdlaHook`: the Azure Data Lake Analytics job client from an Airflow connection.

ADLA's SDK (azure-mgmt-datalake-analytics) sits on the legacy msrest stack: it is imported
only here, at run time. An azure-identity `TokenCredential` (service principal, or
DefaultAzureCredential when no secret is given) is adapted to msrest's `Authentication`,
with the token refreshed before it expires.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_mlpipe.extras import require_extra

ADLA_SCOPE = "https://datalake.azure.net/.default"
DEFAULT_DNS_SUFFIX = "azuredatalakeanalytics.net"
API_VERSION = "2017-09-01-preview"
#: Refresh a token this many seconds before it expires.
TOKEN_MARGIN_SECONDS = 300
#: Seconds one HTTP call of `test_connection` may take (connect, read), so the UI's Test button answers.
TEST_CALL_TIMEOUT = (10, 30)


def _text(value: Any) -> str | None:
    """A state or result enum of the SDK as its plain string."""
    return None if value is None else str(getattr(value, "value", value))


def token_authentication(credential: Any, scope: str = ADLA_SCOPE) -> Any:
    """An msrest `Authentication` that sends a bearer token from an azure-identity credential."""
    from msrest.authentication import Authentication

    class TokenCredentialAuthentication(Authentication):
        def __init__(self) -> None:
            self._token: Any = None

        def signed_session(self, session: Any = None) -> Any:
            session = super().signed_session(session)
            if self._token is None or self._token.expires_on - TOKEN_MARGIN_SECONDS < time.time():
                self._token = credential.get_token(scope)
            session.headers["Authorization"] = f"Bearer {self._token.token}"
            return session

    return TokenCredentialAuthentication()


def _reason(error: Exception) -> str:
    """What went wrong in one line: the service's own message for a CloudError, else the error's text."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return " ".join(str(message).split())


class StaticToken:
    """A TokenCredential for a token issued elsewhere (extra `access_token`), e.g. by a CI job."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


class AdlaHook(BaseHook):
    """Submit, watch and cancel U-SQL jobs of one ADLA account.

    Connection `mlpipe_adla`: host = account name (or extra `account_name`); login/password =
    service principal client id/secret with extra `tenant_id`; no secret: DefaultAzureCredential;
    extra `base_url` points the client elsewhere (tests), extra `adla_job_dns_suffix` for other clouds.
    """

    conn_name_attr = "adla_conn_id"
    default_conn_name = "adla_default"
    conn_type = "mlpipe_adla"
    hook_name = "mlpipe Azure Data Lake Analytics"

    def __init__(self, adla_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.adla_conn_id = adla_conn_id
        self._client: Any = None
        self._account: str | None = None
        self._base_url: str | None = None
        self._endpoint: str | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form declared in the provider info, for Airflow < 3.2 (later versions read it there)."""
        from airflow_provider_mlpipe.get_provider_info import legacy_field_behaviour

        return legacy_field_behaviour(cls.conn_type)

    def credential(self, conn: Any) -> Any:
        """The azure-identity credential this connection describes."""
        extra = conn.extra_dejson or {}
        if extra.get("access_token"):
            return StaticToken(extra["access_token"])
        if conn.login and conn.password and extra.get("tenant_id"):
            from azure.identity import ClientSecretCredential

            return ClientSecretCredential(extra["tenant_id"], conn.login, conn.password)
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def get_conn(self) -> Any:
        if self._client is None:
            require_extra("adla", f"ADLA connection {self.adla_conn_id!r}")
            from azure.mgmt.datalake.analytics.job import DataLakeAnalyticsJobManagementClient

            conn = self.get_connection(self.adla_conn_id)
            extra = conn.extra_dejson or {}
            self._account = extra.get("account_name") or conn.host
            if not self._account:
                raise ValueError(
                    f'ADLA connection {self.adla_conn_id!r} names no account: fill in "Account name" (host)'
                )
            suffix = extra.get("adla_job_dns_suffix") or DEFAULT_DNS_SUFFIX
            client = DataLakeAnalyticsJobManagementClient(token_authentication(self.credential(conn)), suffix)
            if extra.get("base_url"):
                client.config.base_url = f"{extra['base_url'].rstrip('/')}/{{accountName}}"
            self._base_url = extra.get("base_url")
            self._endpoint = (
                f"{self._base_url.rstrip('/')}/{self._account}"
                if self._base_url
                else f"https://{self._account}.{suffix}"
            )
            self._client = client
        return self._client

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: list at most one job, the cheapest call that proves account and sign-in."""
        try:
            jobs = self.get_conn().job.list(self.account, top=1, timeout=TEST_CALL_TIMEOUT)
            seen = next(iter(jobs), None)
        except Exception as error:  # the Test button shows the reason, whatever failed
            where = f"ADLA account {self._account!r} at {self._endpoint}" if self._client else "ADLA"
            return False, f"{where}: {_reason(error)}"
        latest = f"latest job: {seen.name!r}, {_text(seen.state)}" if seen else "no jobs yet"
        return True, f"ADLA account {self._account!r} at {self._endpoint} answered ({latest})."

    @property
    def account(self) -> str:
        self.get_conn()
        return self._account  # type: ignore[return-value]

    def job_url(self, job_id: str) -> str:
        """Where a person sees the job: the Azure portal's job blade (the stand-in's URL in tests)."""
        self.get_conn()
        if self._base_url:
            return f"{self._base_url.rstrip('/')}/{self._account}/jobs/{job_id}"
        return (
            "https://portal.azure.com/#blade/Microsoft_Azure_DataLakeAnalytics/SqlIpJobDetailsBlade/"
            f"accountName/{self._account}/jobId/{job_id}"
        )

    def submit(
        self,
        name: str,
        script: str,
        degree_of_parallelism: int | None,
        priority: int | None,
        runtime: str | None,
    ) -> str:
        """Submit a U-SQL job under a fresh job id; returns the id."""
        from azure.mgmt.datalake.analytics.job.models import CreateJobParameters, CreateUSqlJobProperties

        job_id = str(uuid.uuid4())
        parameters = CreateJobParameters(
            type="USql",
            name=name,
            degree_of_parallelism=degree_of_parallelism or 1,
            priority=priority or 1000,
            properties=CreateUSqlJobProperties(script=script, runtime_version=runtime),
        )
        self.get_conn().job.create(self.account, job_id, parameters)
        return job_id

    def get_job_state(self, job_id: str) -> dict[str, Any]:
        """The job's state as plain values (what the trigger sends and the operator checks)."""
        job = self.get_conn().job.get(self.account, job_id)
        errors = [
            {"error_id": e.error_id, "message": e.message, "line_number": e.line_number, "details": e.details}
            for e in (job.error_message or [])
        ]
        return {"job_id": job_id, "state": _text(job.state), "result": _text(job.result), "errors": errors}

    def cancel(self, job_id: str, wait_seconds: float = 60.0, poll_seconds: float = 1.0) -> None:
        """Ask to cancel without the SDK's slow LRO poller, then poll until the job has ended."""
        self.get_conn().job.cancel(self.account, job_id, polling=False)
        deadline = time.monotonic() + wait_seconds
        while self.get_job_state(job_id)["state"] != "Ended" and time.monotonic() < deadline:
            time.sleep(poll_seconds)

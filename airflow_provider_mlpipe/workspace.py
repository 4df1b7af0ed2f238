"""v1's `Workspace`: the embedded local Airflow (this machine's metadata DB), or a remote Airflow
deployment reached through its API server.

    ws = Workspace.from_config()       # ./config.json or .azureml/config.json naming an airflow_url;
                                       # no file: the embedded local Airflow
    ws = Workspace.connect(url, username="admin", password="...")   # remote, in code
    ws = Workspace.from_env()          # MLPIPE_AIRFLOW_URL + MLPIPE_AIRFLOW_TOKEN or _USERNAME/_PASSWORD

A remote workspace authenticates with a bearer token: given, or fetched from
`POST {url}/auth/token` with username/password (and fetched again when it expires). Everything
it does goes through Airflow's REST API and the provider's `/mlpipe` routes, under that user's
permissions.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.exceptions import ApiError

if TYPE_CHECKING:
    import httpx

    from airflow_provider_mlpipe.authoring.datastore import Datastore
    from airflow_provider_mlpipe.runs import Experiment

DEFAULT_TIMEOUT = 30.0
#: A read (GET) that meets a dropped connection, a timeout or 502/503/504 is tried again for up to
#: this many seconds (an api-server restarting, a proxy's hiccup), so a long `wait_for_completion`
#: survives it; a state change (submit, enable, cancel...) is never sent twice.
TRANSIENT_RETRY_SECONDS = 60.0
TRANSIENT_STATUSES = frozenset({502, 503, 504})
#: The names v1's `from_config` looks for, in the folder and in its `.azureml/` and `aml_config/`.
CONFIG_FILE_NAME = "config.json"
CONFIG_SUBFOLDERS = ("", ".azureml", "aml_config")
#: The name of the embedded local workspace when none is given.
LOCAL_WORKSPACE_NAME = "local"


class Workspace:
    """A workspace: the embedded local Airflow, or a remote deployment (`url`).

    v1's `Workspace(subscription_id, resource_group, workspace_name, ...)` is the local one; its
    ids are kept as labels (there is no Azure subscription here) and `auth` is used only when it
    can give a header (`get_authentication_header()`, as v1's auth objects do) to a remote API
    server. `url`, `token`, `username`, `password` and `timeout` make it remote (see `connect`).
    """

    def __init__(
        self,
        subscription_id: str | None,
        resource_group: str | None,
        workspace_name: str | None,
        auth: Any = None,
        _location: str | None = None,
        _disable_service_check: bool = False,
        _workspace_id: str | None = None,
        sku: str = "basic",
        tags: dict[str, str] | None = None,
        _cloud: str = "AzureCloud",
        url: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self._name = workspace_name or LOCAL_WORKSPACE_NAME
        self.auth = auth
        self.location = _location or "local"
        self.sku = sku
        self.tags = dict(tags or {})
        self.url = url.rstrip("/") if url else None
        if self.url is not None and token is None and username is None and not _gives_header(auth):
            raise ValueError(
                f"Workspace {self._name!r}: to reach {self.url} give a token, a username and password, "
                "or an auth object with get_authentication_header()"
            )
        self.username = username
        self._password = password
        self._token = token
        self.timeout = timeout
        self._http: httpx.Client | None = None

    # -- ways to make one ----------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        url: str,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        workspace_name: str | None = None,
    ) -> Workspace:
        """A remote workspace: the Airflow API server at `url`, as a token or a user."""
        if not url:
            raise ValueError("Workspace.connect: url of the Airflow API server is required")
        return cls(
            None,
            None,
            workspace_name or url,
            url=url,
            token=token,
            username=username,
            password=password,
            timeout=timeout,
        )

    @classmethod
    def local(cls, workspace_name: str | None = None) -> Workspace:
        """The embedded local Airflow of this machine (the current AIRFLOW_HOME)."""
        return cls(None, None, workspace_name)

    @classmethod
    def from_env(cls) -> Workspace:
        """From MLPIPE_AIRFLOW_URL and MLPIPE_AIRFLOW_TOKEN, or MLPIPE_AIRFLOW_USERNAME/_PASSWORD."""
        url = os.environ.get("MLPIPE_AIRFLOW_URL")
        if not url:
            raise ValueError("Workspace.from_env: MLPIPE_AIRFLOW_URL is not set")
        return cls.connect(
            url,
            token=os.environ.get("MLPIPE_AIRFLOW_TOKEN") or None,
            username=os.environ.get("MLPIPE_AIRFLOW_USERNAME") or None,
            password=os.environ.get("MLPIPE_AIRFLOW_PASSWORD"),
        )

    @staticmethod
    def from_config(
        path: str | Path | None = None, auth: Any = None, _logger: Any = None, _file_name: str | None = None
    ) -> Workspace:
        """v1's `from_config`: the workspace a config file describes; the local one when there is none.

        `path` is the file, or a folder searched (with its parents) for `config.json` (or
        `_file_name`) in itself, `.azureml/` and `aml_config/`; default: the working folder. The
        file holds v1's `subscription_id`, `resource_group`, `workspace_name`, and, for a remote
        deployment, `airflow_url` with `username` or `token` (the password or token may instead
        come from MLPIPE_AIRFLOW_PASSWORD / MLPIPE_AIRFLOW_TOKEN, so the file need hold no secret).
        """
        found = find_config_file(path, _file_name)
        if found is None:
            if path is not None and Path(path).suffix == ".json":
                raise FileNotFoundError(f"Workspace.from_config: no file {path}")
            return Workspace(None, None, None, auth=auth)
        try:
            config = json.loads(found.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"Workspace.from_config: {found} is not a JSON object: {error}") from None
        if not isinstance(config, dict):
            raise ValueError(f"Workspace.from_config: {found} is not a JSON object")
        url = config.get("airflow_url") or None
        token = config.get("token") or (os.environ.get("MLPIPE_AIRFLOW_TOKEN") if url else None) or None
        username = config.get("username") or None
        password = config.get("password") or os.environ.get("MLPIPE_AIRFLOW_PASSWORD")
        return Workspace(
            config.get("subscription_id"),
            config.get("resource_group"),
            config.get("workspace_name"),
            auth=auth,
            url=url,
            token=token,
            username=username,
            password=password if url else None,
        )

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> Path:
        """v1's `write_config`: this workspace's ids (and `airflow_url`, `username`; never a secret)
        to `path/.azureml/config.json`; returns the file."""
        folder = Path(path or ".") / ".azureml"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (file_name or CONFIG_FILE_NAME)
        config: dict[str, Any] = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self._name,
        }
        if self.url:
            config["airflow_url"] = self.url
            if self.username:
                config["username"] = self.username
        target.write_text(json.dumps(config, indent=2) + "\n")
        return target

    # -- what it is ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_local(self) -> bool:
        """True for the embedded local Airflow, False for a remote deployment."""
        return self.url is None

    # -- what it holds -------------------------------------------------------------------------

    def get_default_datastore(self) -> Datastore:
        """The default datastore (see `set_default_datastore`). The embedded local workspace's is
        decided where it is used (a DAG file may call this: it reads nothing now)."""
        if self.is_local:
            from airflow_provider_mlpipe.authoring.datastore import Datastore

            return Datastore.default()
        from airflow_provider_mlpipe.workspace_catalog import default_datastore_name

        return self._datastore(default_datastore_name(self))

    def set_default_datastore(self, name: str) -> None:
        """Make datastore `name` the default of every pipeline of this workspace from now on
        (the Airflow Variable `mlpipe_default_datastore`, which `[mlpipe] default_datastore` yields to)."""
        from airflow_provider_mlpipe.workspace_catalog import set_default_datastore

        set_default_datastore(self, name)

    @property
    def datastores(self) -> dict[str, Datastore]:
        """Datastore name -> `Datastore`: the Airflow connections that are datastores, and the default."""
        from airflow_provider_mlpipe.workspace_catalog import datastore_names

        return {name: self._datastore(name) for name in datastore_names(self)}

    @property
    def experiments(self) -> dict[str, Experiment]:
        """Experiment name -> `Experiment`, for every experiment that has runs here."""
        from airflow_provider_mlpipe.runs import Experiment
        from airflow_provider_mlpipe.workspace_catalog import experiment_names

        return {name: Experiment(self, name) for name in experiment_names(self)}

    @property
    def compute_targets(self) -> dict[str, Any]:
        """Name -> `ComputeTarget`: what a step's `compute_target=` may name here (see `ComputeTarget`)."""
        from airflow_provider_mlpipe.workspace_catalog import compute_targets

        return compute_targets(self)

    def _datastore(self, name: str) -> Datastore:
        from airflow_provider_mlpipe.authoring.datastore import Datastore

        return Datastore(self, name)

    # -- the remote API ------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        import httpx

        if self.url is None:
            raise ValueError(f"Workspace {self._name!r} is the embedded local Airflow: it has no API server")
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=self.timeout)
        return self._http

    def get_token(self, refresh: bool = False) -> str:
        """The bearer token (a JWT from `/auth/token` when username/password were given)."""
        if self._token is None or (refresh and self.username is not None):
            response = self._client().post(
                "/auth/token", json={"username": self.username, "password": self._password or ""}
            )
            if response.status_code not in (200, 201):
                raise ApiError(
                    f"POST {self.url}/auth/token as {self.username!r}: {response.status_code} "
                    f"{_detail(response)}",
                    response.status_code,
                    _detail(response),
                )
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated request; raises `ApiError` for any 4xx/5xx answer.

        A GET is tried again on a transient failure for up to TRANSIENT_RETRY_SECONDS.
        """
        import httpx

        deadline = time.monotonic() + (TRANSIENT_RETRY_SECONDS if method.upper() == "GET" else 0)
        pause = 0.5
        while True:
            try:
                response = self._authenticated(method, path, **kwargs)
            except httpx.TransportError:
                if time.monotonic() + pause > deadline:
                    raise
            else:
                if response.status_code not in TRANSIENT_STATUSES or time.monotonic() + pause > deadline:
                    break
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
        if response.status_code >= 400:
            detail = _detail(response)
            raise ApiError(f"{method} {path}: {response.status_code} {detail}", response.status_code, detail)
        return response

    def _authenticated(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with the bearer token; once more with a fresh token after a 401."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self._token is None and self.username is None and _gives_header(self.auth):
            headers.update(self.auth.get_authentication_header())
            return self._client().request(method, path, headers=headers, **kwargs)
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self.get_token(refresh=attempt > 0)}"
            response = self._client().request(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or self.username is None:
                break
        return response

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __repr__(self) -> str:
        where = "local" if self.url is None else self.url
        return f"Workspace({self._name!r}, {where})"


def find_config_file(path: str | Path | None, file_name: str | None = None) -> Path | None:
    """The config file `from_config` reads: `path` itself, or the first match in it or its parents."""
    start = Path(path) if path is not None else Path.cwd()
    if start.is_file():
        return start
    if not start.is_dir():
        return None
    name = file_name or CONFIG_FILE_NAME
    for folder in [start.resolve(), *start.resolve().parents]:
        for sub in CONFIG_SUBFOLDERS:
            candidate = folder / sub / name
            if candidate.is_file():
                return candidate
    return None


def _gives_header(auth: Any) -> bool:
    return callable(getattr(auth, "get_authentication_header", None))


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:1000]
    return body.get("detail", body) if isinstance(body, dict) else body

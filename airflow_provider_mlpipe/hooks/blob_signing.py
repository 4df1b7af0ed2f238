"""Shared access signatures of a Blob datastore: how its requests are authorized, and read SAS
for another party (the source of a server-side copy). Mixed into `BlobDatastore`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from airflow_provider_mlpipe.hooks.azure_errors import describe_azure_error

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

log = logging.getLogger(__name__)

#: Lifetime of a SAS made for a server-side copy's source (the copy is waited for, far less).
COPY_SAS_HOURS = 24


class BlobSigning:
    """SAS for the blobs of one datastore; a user delegation key is fetched once and cached."""

    name: str
    container: str
    service_client: BlobServiceClient
    account_name: str
    _delegation_lock: threading.Lock
    #: (valid until, user delegation key or None when refused), for SAS of server-side copies.
    _delegation: tuple[Any, Any] | None = None

    _blob_name: Callable[[str], str]

    @property
    def credential_kind(self) -> str:
        """How this client's requests are authorized: "shared_key", "sas", "token" or "anonymous"."""
        credential = self.service_client.credential
        if hasattr(credential, "get_token"):
            return "token"
        if getattr(credential, "account_key", None):
            return "shared_key"
        if self._own_sas():
            return "sas"
        return "anonymous"

    def _own_sas(self) -> str | None:
        """The SAS this client sends (in its URL, or as an AzureSasCredential), without the '?'."""
        signature = getattr(self.service_client.credential, "signature", None)
        if signature:
            return str(signature).lstrip("?")
        query = urlparse(self.service_client.url).query
        return query if "sig=" in query else None

    def read_sas(self, path: str) -> str | None:
        """A SAS (query string, no '?') with which a request made by another party reads the blob at `path`.

        The client's own SAS when it has one; else one signed with the account key, or with a
        user delegation key when the client holds a token credential. None when it cannot make
        one (anonymous access, or an identity that may not get a user delegation key).
        """
        from datetime import datetime, timedelta, timezone

        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        own = self._own_sas()
        if own:
            return own
        kind = self.credential_kind
        signing: dict[str, Any]
        if kind == "shared_key":
            signing = {"account_key": self.service_client.credential.account_key}
        elif kind == "token":
            key = self._user_delegation_key()
            if key is None:
                return None
            signing = {"user_delegation_key": key}
        else:
            return None
        return str(
            generate_blob_sas(
                account_name=self.account_name,
                container_name=self.container,
                blob_name=self._blob_name(path),
                permission=BlobSasPermissions(read=True),
                expiry=datetime.now(timezone.utc) + timedelta(hours=COPY_SAS_HOURS),
                **signing,
            )
        )

    def _user_delegation_key(self) -> Any:
        """A user delegation key valid COPY_SAS_HOURS more, fetched once per datastore; None if refused."""
        from datetime import datetime, timedelta, timezone

        from azure.core.exceptions import AzureError

        now = datetime.now(timezone.utc)
        with self._delegation_lock:
            cached = self._delegation
            if cached is not None and cached[0] > now + timedelta(hours=COPY_SAS_HOURS):
                return cached[1]
            expiry = now + timedelta(hours=COPY_SAS_HOURS + 1)
            try:
                key = self.service_client.get_user_delegation_key(now - timedelta(minutes=5), expiry)
            except AzureError as exc:
                log.warning("Datastore %r: no user delegation key (%s)", self.name, describe_azure_error(exc))
                key = None
            self._delegation = (expiry if key is not None else now + timedelta(days=3650), key)
            return key

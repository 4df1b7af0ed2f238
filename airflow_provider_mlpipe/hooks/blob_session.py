"""How Blob clients built here talk HTTP: one pooled session per process, big blocks and ranges.

Shared by the Blob datastore and the datastore-to-datastore transfers; the figures behind each
setting are in bench/transfer.py's notes.
"""

from __future__ import annotations

import os
import threading
from typing import Any

#: Files moved at once.
MAX_FILE_WORKERS = 8
#: Parallel blocks (upload) or ranges (download) per blob above `BLOCK_SIZE`.
MAX_BLOB_CONCURRENCY = 4
#: Block and range size of big blobs (AzCopy's default block size). The SDK's download defaults
#: (a first GET of 32 MiB, then 4 MiB pieces) send more, smaller requests: on Azurite a 256 MiB
#: download ran at ~220 MB/s with them and ~500 MB/s with 8 MiB ranges. Blocks stream from the
#: file (no whole file in memory).
BLOCK_SIZE = 8 * 1024 * 1024
#: Files up to this size are uploaded in one Put Blob, as the SDK does by default; bigger ones as
#: BLOCK_SIZE blocks. A 64 MiB file sent as 8 staged blocks + a commit went at 0.4x the SDK's
#: single Put Blob (bench/transfer.py): nine requests instead of one, and Azurite computes a CRC64
#: of every staged block sent without Content-MD5, 4x the emulator CPU per byte of a Put Blob.
#: The price: the SDK reads such a file into memory whole (at most MAX_FILE_WORKERS at once).
SINGLE_PUT_MAX = 64 * 1024 * 1024
#: Connections kept open per host: every file worker may have MAX_BLOB_CONCURRENCY requests in
#: flight. requests' default pool (10 per host) would open and discard connections instead.
POOL_SIZE = MAX_FILE_WORKERS * MAX_BLOB_CONCURRENCY
#: Bytes per socket write when sending a body (http.client sends 8 KiB at a time by default).
SOCKET_BLOCK_SIZE = 256 * 1024


_session_lock = threading.Lock()
_session: tuple[int, Any] | None = None


def shared_session() -> Any:
    """The `requests.Session` every blob client built here shares in this process.

    Its pool keeps POOL_SIZE connections per host. urllib3's own retries are off, as in
    azure-core's transport: retrying stays with the SDK's retry policy. A forked child makes
    its own session and never shares its parent's sockets.
    """
    global _session
    with _session_lock:
        if _session is None or _session[0] != os.getpid():
            import requests
            from urllib3.util.retry import Retry

            session = requests.Session()
            adapter = _pooled_adapter_class()(
                pool_maxsize=POOL_SIZE, max_retries=Retry(total=False, redirect=False, raise_on_status=False)
            )
            for scheme in ("http://", "https://"):
                session.mount(scheme, adapter)
            _session = (os.getpid(), session)
        return _session[1]


def _pooled_adapter_class() -> type:
    """An HTTPAdapter whose connections send bodies SOCKET_BLOCK_SIZE bytes at a time."""
    from requests.adapters import HTTPAdapter

    class PooledAdapter(HTTPAdapter):
        def init_poolmanager(
            self, connections: int, maxsize: int, block: bool = False, **kwargs: Any
        ) -> None:
            kwargs.setdefault("blocksize", SOCKET_BLOCK_SIZE)
            super().init_poolmanager(connections, maxsize, block=block, **kwargs)

    return PooledAdapter


def client_options() -> dict[str, Any]:
    """Keyword arguments for a `BlobServiceClient` that moves data fast.

    The shared pooled session, one Put Blob up to `SINGLE_PUT_MAX`, and `BLOCK_SIZE` blocks and
    ranges. The SDK's retry policy and timeouts are its defaults.
    """
    return {
        "session": shared_session(),
        "session_owner": False,
        "max_single_put_size": SINGLE_PUT_MAX,
        "max_block_size": BLOCK_SIZE,
        "max_single_get_size": BLOCK_SIZE,
        "max_chunk_get_size": BLOCK_SIZE,
    }

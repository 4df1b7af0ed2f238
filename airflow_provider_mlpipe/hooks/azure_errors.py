"""Azure SDK errors as the provider reports them: one line each, raised as `DatastoreError`s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from airflow_provider_mlpipe.exceptions import DatastoreError

T = TypeVar("T")


def error_code(exc: Exception) -> str | None:
    """The service's error code of an Azure error (e.g. "BlobNotFound"), if it has one."""
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # the SDK sometimes gives a StorageErrorCode enum
    return None if code is None else str(code)


def describe_azure_error(exc: Exception) -> str:
    """A one-line reason from an Azure error (error code and the first line of the message)."""
    code = error_code(exc)
    message = str(getattr(exc, "message", None) or exc).strip().splitlines()
    text = message[0] if message else type(exc).__name__
    return f"{code}: {text}" if code and code not in text else text


@contextmanager
def azure_errors_as(what: str) -> Iterator[None]:
    """Azure errors the caller did not handle become a DatastoreError "`what`: <reason>"."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise DatastoreError(f"{what}: {describe_azure_error(exc)}") from exc


def run_parallel(work: Callable[[Any], T], jobs: list[Any], workers: int, name: str) -> list[T]:
    """`work` over `jobs` on a thread pool of at most `workers` threads named `name` (inline for one
    job); the first error cancels the jobs not yet started and is raised."""
    if len(jobs) <= 1:
        return [work(job) for job in jobs]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix=name)
    try:
        return list(pool.map(work, jobs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

"""The provider's optional integrations (pip extras) and the check that one is installed.

Databricks and ADLA steps need client libraries that most deployments never use (the ADLA
chain is the legacy msrest/adal stack), so they are extras, as Airflow providers do. A step
whose extra is missing fails where it is defined, so Airflow lists it as the DAG file's import
error with the `pip install` line to run.

The check runs while DAG files are parsed, so it imports nothing: it asks for the installed
distributions' metadata. (`importlib.util.find_spec("databricks.sdk")` would import the parent
packages `databricks` and `azure`, and finding a nested namespace package without importing its
parent is not possible through the import system's public API.)
"""

from __future__ import annotations

import functools
from importlib import metadata

PACKAGE = "airflow-provider-mlpipe"

#: extra -> the distributions it installs that the integration imports; pyproject.toml lists the same.
EXTRAS: dict[str, tuple[str, ...]] = {
    "databricks": ("databricks-sdk",),
    "adla": ("azure-mgmt-datalake-analytics", "msrest", "msrestazure", "adal"),
}


class MissingExtraError(ImportError):
    """An optional integration is used but its extra is not installed; the message has the pip line."""


def install_line(extra: str) -> str:
    """The command that installs one extra of the provider."""
    return f"pip install '{PACKAGE}[{extra}]'"


def require_extra(extra: str, user: str) -> None:
    """Raise `MissingExtraError` naming `user` (e.g. "DatabricksStep 'train'") unless `extra` is installed."""
    missing = [name for name in EXTRAS[extra] if not installed(name)]
    if missing:
        raise MissingExtraError(
            f"{user} needs the provider's {extra!r} extra, which is not installed (missing: "
            f"{', '.join(missing)}); install it where DAG files are parsed and tasks run: "
            f"{install_line(extra)}"
        )


@functools.cache
def installed(distribution: str) -> bool:
    """Whether a distribution is installed (asked once per process: DAG files are parsed in fresh ones)."""
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True

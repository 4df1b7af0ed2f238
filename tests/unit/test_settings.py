"""`[mlpipe]` options: read in settings.py only, each declared in the provider info, read at call time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import airflow_provider_mlpipe
from airflow_provider_mlpipe import settings
from airflow_provider_mlpipe.operators.adla import AdlaStepOperator
from airflow_provider_mlpipe.operators.databricks import DatabricksStepOperator

PACKAGE_DIR = Path(airflow_provider_mlpipe.__file__).parent
CONF_READ = re.compile(r"conf\.get\w*\(\s*[\"']mlpipe[\"']")


def test_only_settings_reads_the_mlpipe_section():
    readers = sorted(
        str(path.relative_to(PACKAGE_DIR))
        for path in PACKAGE_DIR.rglob("*.py")
        if CONF_READ.search(path.read_text()) or "SECTION, option" in path.read_text()
    )
    assert readers == ["settings.py"]


def test_every_option_read_is_declared_and_every_declared_option_is_read():
    source = (PACKAGE_DIR / "settings.py").read_text()
    read = set(re.findall(r'_text\("(\w+)"\)', source))
    read |= {DatabricksStepOperator.poll_option, AdlaStepOperator.poll_option}
    assert read == set(settings.declared_options())


def test_values_are_read_when_asked_with_the_declared_defaults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_MB", raising=False)
    assert settings.snapshot_max_mb() == 300 and settings.snapshot_max_files() == 2000
    assert settings.poll_seconds("databricks_poll_seconds") == 10.0
    monkeypatch.setenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_MB", "5")
    assert settings.snapshot_max_mb() == 5
    with pytest.raises(KeyError):
        settings.poll_seconds("remote_poll_seconds")

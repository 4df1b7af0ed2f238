"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def markers(tmp_path, monkeypatch) -> Path:
    """A folder the test scripts write a marker into each time they really run."""
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv("MLPIPE_TEST_MARKERS", str(folder))
    return folder

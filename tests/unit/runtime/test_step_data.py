"""A step's data on the worker: v1's `path_on_compute` places inputs and outputs where the script expects them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_mlpipe.exceptions import StepDataError
from airflow_provider_mlpipe.hooks.local_folder import LocalFolderDatastore
from airflow_provider_mlpipe.runtime.step_data import AttemptData, InputLocation


@pytest.fixture
def data(tmp_path: Path) -> AttemptData:
    store = tmp_path / "store"
    (store / "raw").mkdir(parents=True)
    (store / "raw" / "a.csv").write_text("a")
    attempt = AttemptData("train", tmp_path / "attempt", logging.getLogger("test"))
    attempt._clients[None] = LocalFolderDatastore("store", store)
    return attempt


def test_an_input_with_a_path_on_compute_is_copied_there_even_in_mount_mode(data, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    for mode in ("mount", "download"):
        placed = data.materialize_input(InputLocation("raw", mode, None, "raw"), code / mode / "raw")
        assert placed == code / mode / "raw" and (placed / "a.csv").read_text() == "a"
    in_place = data.materialize_input(InputLocation("raw", "mount", None, "raw"))
    assert in_place == tmp_path / "store" / "raw", "without one, mount reads in place as before"


def test_a_taken_path_on_compute_is_replaced_only_with_overwrite(data, tmp_path):
    taken = tmp_path / "code" / "data"
    taken.mkdir(parents=True)
    (taken / "old.txt").write_text("from the snapshot")
    location = InputLocation("raw", "download", None, "raw")
    with pytest.raises(
        StepDataError, match="step 'train': input 'raw': its path_on_compute .* overwrite=True"
    ):
        data.materialize_input(location, taken)
    assert data.materialize_input(location, taken, overwrite=True) == taken
    assert sorted(p.name for p in taken.iterdir()) == ["a.csv"]


def test_an_output_with_a_path_on_compute_is_written_below_the_working_folder(data, tmp_path):
    code = tmp_path / "code"
    spec = {"name": "model", "path_on_compute": "outputs/model", "is_directory": None}
    assert (
        data.output_folder(spec, code) == code / "outputs" / "model" and (code / "outputs" / "model").is_dir()
    )
    with pytest.raises(
        StepDataError, match="output 'model': its path_on_compute 'outputs/model' is already taken"
    ):
        data.output_folder(spec, code)
    assert data.output_folder({"name": "plain"}, code) == data.workdir / "outputs" / "plain"

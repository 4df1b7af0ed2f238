"""`FrozenValue`: what a frozen dataclass gives, without its cost at DAG parse time."""

from __future__ import annotations

import pytest

from airflow_provider_mlpipe import MavenLibrary, PipelineData
from airflow_provider_mlpipe.authoring.data import PipelineDataInput


def test_equal_by_fields_hashable_immutable_and_readable():
    data = PipelineData("d")
    a, b = PipelineDataInput(data, "download", "x"), PipelineDataInput(data, "download", "x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != PipelineDataInput(data, "mount", "x")
    assert repr(MavenLibrary("g:a:1")) == "MavenLibrary(coordinates='g:a:1', repo='', exclusions=())"
    with pytest.raises(AttributeError, match="PipelineDataInput is immutable: cannot set 'mode'"):
        a.mode = "mount"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del a.mode


def test_a_frozen_value_survives_pickling():
    """The local runner receives the pipeline pickled; its bindings must come back whole."""
    import pickle

    library = MavenLibrary("g:a:1", repo="r", exclusions=["x"])
    assert pickle.loads(pickle.dumps(library)) == library
    binding = pickle.loads(pickle.dumps(PipelineData("d").as_download(path_on_compute="in")))
    assert (binding.mode, binding.path_on_compute, binding.data.name) == ("download", "in", "d")

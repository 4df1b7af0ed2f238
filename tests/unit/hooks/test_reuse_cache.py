"""ReuseCacheHook on a local folder: decisions and their reasons, create-only entries, bad entries."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook
from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, ReuseKey


@pytest.fixture
def hook(tmp_path, monkeypatch) -> ReuseCacheHook:
    connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "index")}}
    monkeypatch.setenv("AIRFLOW_CONN_INDEX_STORE", json.dumps(connection))
    return ReuseCacheHook("index_store")


def key(*parts: str) -> ReuseKey:
    return ReuseKey(tuple(KeyComponent(f"part {i}", p) for i, p in enumerate(parts)))


SOURCE = {"dag_id": "d", "run_id": "r", "task_id": "t", "try_number": 1}
OUTPUTS = {"model": {"datastore": "x", "path_on_datastore": "mlpipe/d/r/t/model"}}


def test_key_digest_depends_on_every_component_and_its_name():
    assert key("a", "b").digest == key("a", "b").digest
    assert key("a", "b").digest != key("a", "c").digest
    renamed = ReuseKey((KeyComponent("other", "a"), KeyComponent("part 1", "b")))
    assert renamed.digest != key("a", "b").digest
    assert key("abcdef0123456789ff").describe() == ["  part 0: abcdef0123456789"]


def test_decisions_and_their_reasons(hook):
    k = key("a")
    always = lambda record: True  # noqa: E731
    assert hook.decide(k, True, False, always).reason == "no entry"
    assert hook.record(k, OUTPUTS, SOURCE, {"git": {}})
    hit = hook.decide(k, True, False, always)
    assert hit.hit and hit.entry["source"] == SOURCE and hit.entry["outputs"] == OUTPUTS
    assert hook.decide(k, False, False, always).reason == "allow_reuse=False"
    assert hook.decide(k, True, True, always).reason == "regenerate_outputs"
    missing = hook.decide(k, True, False, lambda record: False)
    assert not missing.hit and missing.reason == "recorded outputs missing: model"


def test_entries_are_create_only_even_under_a_race(hook):
    k = key("race")
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda n: hook.record(k, OUTPUTS, {**SOURCE, "run_id": f"r{n}"}, {}), range(16)))
    assert won.count(True) == 1
    entries = list(hook.list_entries())
    assert len(entries) == 1 and entries[0]["source"]["run_id"] == f"r{won.index(True)}"
    assert hook.client.list_files("mlpipe/_reuse") == [f"{k.digest[:2]}/{k.digest}.json"]


def test_an_unreadable_entry_is_a_miss_and_is_replaced(hook):
    k = key("broken")
    hook.client.create_only(hook.entry_path(k.digest), b"{not json")
    decision = hook.decide(k, True, False, lambda record: True)
    assert decision.reason.startswith("entry unreadable: reuse entry mlpipe/_reuse/")
    assert "is not valid JSON" in decision.reason and decision.stale
    assert list(hook.list_entries()) == []
    assert not hook.record(k, OUTPUTS, SOURCE, {})  # create-only: the old file stays
    assert hook.record(k, OUTPUTS, SOURCE, {}, replace=decision.stale)
    assert hook.decide(k, True, False, lambda record: True).hit

"""Stale and invalid reuse entries are a MISS and are replaced, on a local folder and on Azurite.

Replacing keeps create-only safety: a writer replaces only the very entry it found stale, so
of several racing writers exactly one wins, and a valid entry a concurrent run recorded is kept.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook
from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, ReuseKey
from tests.services.azurite import airflow_conn_env, blob_connection

INDEX = "stale_index"
SOURCE = {"dag_id": "d", "run_id": "r1", "task_id": "t", "try_number": 1}


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.integration)])
def hook(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReuseCacheHook:
    if request.param == "local":
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "store")}}
    else:
        connection = blob_connection(request.getfixturevalue("azurite"), f"s{uuid.uuid4().hex[:16]}")
    for name, value in airflow_conn_env(INDEX, connection).items():
        monkeypatch.setenv(name, value)
    return ReuseCacheHook(INDEX)


def key(tag: str = "step") -> ReuseKey:
    return ReuseKey((KeyComponent("step", tag, f"step {tag}"),))


def outputs(hook: ReuseCacheHook, run: str, write: bool = True) -> dict[str, Any]:
    path = f"mlpipe/d/{run}/t/model"
    if write:
        hook.client.create_only(f"{path}/part-0", b"weights")
    return {"model": {"output_name": "model", "datastore": INDEX, "path_on_datastore": path}}


def exists(hook: ReuseCacheHook):
    """The operator's check, through the datastore the record names (an unknown one is a ValueError)."""
    from airflow_provider_mlpipe.hooks.datastore import DatastoreError
    from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

    def check(record: dict[str, Any]) -> bool:
        try:
            client = resolve_datastore(record["datastore"])
        except DatastoreError as error:
            raise ValueError(str(error)) from None
        return client.exists(record["path_on_datastore"])

    return check


def decide(hook: ReuseCacheHook, k: ReuseKey):
    return hook.decide(k, True, False, exists(hook))


def write_raw(hook: ReuseCacheHook, k: ReuseKey, data: bytes) -> None:
    hook.client.delete(hook.entry_path(k.digest))
    assert hook.client.create_only(hook.entry_path(k.digest), data)


def test_an_entry_whose_outputs_are_gone_is_replaced_and_the_next_run_is_a_hit(hook):
    k = key()
    assert hook.record(k, outputs(hook, "r1"), SOURCE, {})
    hook.client.delete("mlpipe/d/r1/t/model")
    stale = decide(hook, k)
    assert not stale.hit and stale.reason == "recorded outputs missing: model"
    assert hook.record(k, outputs(hook, "r2"), {**SOURCE, "run_id": "r2"}, {}, replace=stale.stale)
    again = decide(hook, k)
    assert again.hit and again.entry["source"]["run_id"] == "r2"


def test_racing_writers_replacing_one_stale_entry_leave_exactly_one_winner(hook):
    k = key("race")
    assert hook.record(k, outputs(hook, "r0"), SOURCE, {})
    hook.client.delete("mlpipe/d/r0/t/model")
    decisions = [decide(hook, k) for _ in range(8)]  # all decided before anyone wrote
    assert {d.reason for d in decisions} == {"recorded outputs missing: model"}
    start = threading.Barrier(len(decisions))
    won: list[tuple[int, bool]] = []

    def replace(n: int) -> None:
        records = outputs(hook, f"w{n}")
        start.wait()
        won.append(
            (n, hook.record(k, records, {**SOURCE, "run_id": f"w{n}"}, {}, replace=decisions[n].stale))
        )

    threads = [threading.Thread(target=replace, args=(n,)) for n in range(len(decisions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, wrote in won if wrote]
    assert len(won) == len(decisions) and len(winners) == 1
    after = decide(hook, k)
    assert after.hit and after.entry["source"]["run_id"] == f"w{winners[0]}"
    assert [e["key"] for e in hook.list_entries()] == [k.digest]


def test_a_valid_entry_recorded_meanwhile_is_never_overwritten(hook):
    k = key("meanwhile")
    assert hook.record(k, outputs(hook, "r0"), SOURCE, {})
    hook.client.delete("mlpipe/d/r0/t/model")
    slow, fast = decide(hook, k), decide(hook, k)
    assert hook.record(k, outputs(hook, "fast"), {**SOURCE, "run_id": "fast"}, {}, replace=fast.stale)
    assert not hook.record(k, outputs(hook, "slow"), {**SOURCE, "run_id": "slow"}, {}, replace=slow.stale)
    assert decide(hook, k).entry["source"]["run_id"] == "fast"


def test_an_entry_removed_meanwhile_is_created_again(hook):
    k = key("cleared")
    assert hook.record(k, outputs(hook, "r0"), SOURCE, {})
    hook.client.delete("mlpipe/d/r0/t/model")
    stale = decide(hook, k)
    hook.delete_entry(k.digest)  # e.g. `reuse clear` between the decision and the record
    assert hook.record(k, outputs(hook, "r1"), {**SOURCE, "run_id": "r1"}, {}, replace=stale.stale)
    assert decide(hook, k).hit


INVALID = {
    "a path leaving the datastore": (
        {"model": {"datastore": INDEX, "path_on_datastore": "../outside/model"}},
        "recorded outputs invalid: model: path '../outside/model' leaves the datastore",
    ),
    "an absolute path": (
        {"model": {"datastore": INDEX, "path_on_datastore": "/etc/model"}},
        "recorded outputs invalid: model: path '/etc/model' is absolute",
    ),
    "a datastore that does not exist": (
        {"model": {"datastore": "no_such_store", "path_on_datastore": "mlpipe/x/model"}},
        "recorded outputs invalid: model: datastore 'no_such_store': no Airflow connection with that id",
    ),
    "a record that is not an object": (
        {"model": "mlpipe/x/model"},
        "recorded outputs invalid: model: not an output record",
    ),
    "a record without a path": (
        {"model": {"datastore": INDEX}},
        "recorded outputs invalid: model: no path_on_datastore",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_an_entry_with_invalid_recorded_paths_is_a_miss_naming_the_problem_and_is_replaced(hook, case):
    recorded, reason = INVALID[case]
    k = key(case)
    write_raw(hook, k, json.dumps({"key": k.digest, "outputs": recorded, "source": SOURCE}).encode())
    decision = decide(hook, k)
    assert not decision.hit and decision.reason.startswith(reason), decision.reason
    assert hook.record(k, outputs(hook, "fresh"), {**SOURCE, "run_id": "fresh"}, {}, replace=decision.stale)
    assert decide(hook, k).hit


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "entry unreadable: reuse entry mlpipe/_reuse/"),
        (b'{"outputs": {}, "source": "someone"}', "entry unreadable: reuse entry mlpipe/_reuse/"),
        (b"[1, 2]", "entry unreadable: reuse entry mlpipe/_reuse/"),
    ],
)
def test_an_unreadable_entry_is_a_miss_naming_the_problem_and_is_replaced(hook, data, reason):
    k = key(data.decode())
    write_raw(hook, k, data)
    decision = decide(hook, k)
    assert not decision.hit and decision.reason.startswith(reason), decision.reason
    assert hook.record(k, outputs(hook, "fresh"), {**SOURCE, "run_id": "fresh"}, {}, replace=decision.stale)
    assert decide(hook, k).hit

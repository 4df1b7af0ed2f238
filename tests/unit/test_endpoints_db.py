"""The pipeline endpoints' tables in the metadata DB (the test home's SQLite): versions, defaults, refusals."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from airflow_provider_mlpipe import endpoints_db as store
from airflow_provider_mlpipe.endpoints_db import EndpointError


def _name(prefix: str = "ep") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_publish_makes_version_0_the_default_and_add_numbers_the_next_ones():
    name = _name()
    record = store.create(name, "first", "pipe_a", "alice")
    assert record["name"] == name and record["status"] == "Active" and record["default_version"] == "0"
    assert record["versions"] == [{"version": "0", "pipeline_id": "pipe_a"}]
    record = store.add_version(record["id"], "pipe_b", False, "alice")
    assert record["default_version"] == "0"
    record = store.add_version(record["id"], "pipe_c", True, "alice")
    assert record["default_version"] == "2"
    assert [(v["version"], v["pipeline_id"]) for v in record["versions"]] == [
        ("0", "pipe_a"),
        ("1", "pipe_b"),
        ("2", "pipe_c"),
    ]
    assert store.get(name=name) == store.get(record["id"]) == store.get(name) == record
    assert store.pipeline_of(record) == ("2", "pipe_c")
    assert store.pipeline_of(record, "1") == ("1", "pipe_b")
    assert store.pipeline_of(record, 0) == ("0", "pipe_a")


def test_set_default_by_version_or_pipeline_and_unknown_ones_are_404():
    record = store.create(_name(), None, "pipe_a", None)
    record = store.add_version(record["id"], "pipe_b", False, None)
    assert store.set_default(record["id"], version="1")["default_version"] == "1"
    assert store.set_default(record["id"], pipeline_id="pipe_a")["default_version"] == "0"
    with pytest.raises(EndpointError, match="has no version '7'") as error:
        store.set_default(record["id"], version="7")
    assert error.value.status_code == 404
    with pytest.raises(EndpointError, match="'pipe_z' is not a version") as error:
        store.set_default(record["id"], pipeline_id="pipe_z")
    assert error.value.status_code == 404
    with pytest.raises(EndpointError, match="not a version number") as error:
        store.pipeline_of(record, "latest")
    assert error.value.status_code == 400


def test_a_taken_name_a_pipeline_added_twice_and_a_missing_endpoint_are_refused():
    name = _name()
    record = store.create(name, None, "pipe_a", None)
    with pytest.raises(EndpointError, match="already exists") as error:
        store.create(name, None, "pipe_b", None)
    assert error.value.status_code == 409
    with pytest.raises(EndpointError, match="already version 0") as error:
        store.add_version(record["id"], "pipe_a", True, None)
    assert error.value.status_code == 409
    assert store.get(record["id"])["versions"] == [{"version": "0", "pipeline_id": "pipe_a"}]
    # the refused add used no version number
    assert store.add_version(record["id"], "pipe_b", False, None)["versions"][-1]["version"] == "1"
    for call in (
        lambda: store.get("nope_" + name),
        lambda: store.add_version("no-such-id", "p", False, None),
    ):
        with pytest.raises(EndpointError) as error:
            call()
        assert error.value.status_code == 404


def test_enable_disable_rename_and_list():
    name = _name("listed")
    record = store.create(name, "d", "pipe_a", None)
    store.change(record["id"], "disable", None, status="Disabled")
    assert name not in [r["name"] for r in store.list_all(active_only=True)]
    assert name in [r["name"] for r in store.list_all(active_only=False)]
    renamed = store.change(record["id"], "set_name", None, name=name + "_x", description="new")
    assert (renamed["name"], renamed["description"], renamed["status"]) == (name + "_x", "new", "Disabled")
    other = store.create(_name("listed"), None, "pipe_a", None)
    with pytest.raises(EndpointError, match="already exists") as error:
        store.change(other["id"], "set_name", None, name=name + "_x")
    assert error.value.status_code == 409
    with pytest.raises(EndpointError, match="status must be one of"):
        store.change(other["id"], "update", None, status="Paused")
    assert len(store.list_all(active_only=False, max_results=1)) == 1


@pytest.mark.parametrize("bad", ["", "a b", "a/b", "x" * 251, "é/", None, 3])
def test_names_follow_airflows_dag_id_rule(bad):
    with pytest.raises(EndpointError) as error:
        store.check_name(bad)
    assert error.value.status_code == 400


def test_concurrent_adds_get_distinct_versions():
    record = store.create(_name("race"), None, "pipe_0", None)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def add(index: int) -> None:
        try:
            start.wait()
            store.add_version(record["id"], f"pipe_{index + 1}", False, None)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = store.get(record["id"])["versions"]
    assert sorted(int(v["version"]) for v in versions) == list(range(7))
    assert len({v["pipeline_id"] for v in versions}) == 7


def test_each_change_is_in_airflows_audit_log():
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    record = store.create(_name("audited"), None, "pipe_a", "alice")
    store.add_version(record["id"], "pipe_b", True, "bob")
    store.change(record["id"], "disable", "carol", status="Disabled")
    with create_session() as session:
        entries = [
            entry
            for entry in session.query(Log).filter(Log.event.like("mlpipe.endpoint.%")).order_by(Log.id)
            if json.loads(entry.extra)["endpoint_id"] == record["id"]
        ]
        seen = [(e.event, e.owner, e.dag_id) for e in entries]
    assert seen == [
        ("mlpipe.endpoint.publish", "alice", "pipe_a"),
        ("mlpipe.endpoint.add_default", "bob", "pipe_b"),
        ("mlpipe.endpoint.disable", "carol", None),
    ]

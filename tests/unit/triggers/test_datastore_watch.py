"""DatastoreChangeTrigger driven in-process (its real `run()` on asyncio) over a local folder and Azurite."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore
from airflow_provider_mlpipe.triggers.datastore_watch import (
    STATE_ROOT,
    DatastoreChangeTrigger,
    DatastoreWatch,
    watch_state_folder,
)

POLL = 0.02
WAIT_SECONDS = 30.0


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.integration)])
def store(request, tmp_path, monkeypatch) -> tuple[str, DatastoreClient]:
    """(connection id, client) of a fresh datastore reached through an Airflow connection."""
    if request.param == "local":
        connection: dict[str, Any] = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "store")}}
    else:
        from tests.services.azurite import blob_connection

        azurite = request.getfixturevalue("azurite")
        connection = blob_connection(azurite, f"watch{uuid.uuid4().hex[:12]}", root="base")
    monkeypatch.setenv("AIRFLOW_CONN_WATCH_STORE", json.dumps(connection))
    return "watch_store", resolve_datastore("watch_store")


def put(client: DatastoreClient, path: str, data: bytes, tmp_path: Path) -> None:
    local = tmp_path / f"upload-{uuid.uuid4().hex}"
    local.write_bytes(data)
    client.upload_file(local, path, overwrite=True)


class Running:
    """A trigger's `run()` consumed by an asyncio task; counts the polls it starts."""

    def __init__(self, trigger: DatastoreChangeTrigger) -> None:
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self.polls = 0
        poll = trigger._poll

        def counted():
            self.polls += 1
            return poll()

        trigger._poll = counted  # type: ignore[method-assign]
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.trigger.run():
            self.events.append(event.payload)

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while not condition():
            if self.task.done():
                self.task.result()
                raise AssertionError(f"trigger ended while waiting for {what}")
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; events: {self.events}")
            await asyncio.sleep(POLL / 4)

    async def settle(self) -> None:
        """Wait until a whole poll started after now has finished (and yielded its events)."""
        started = self.polls
        await self.until(lambda: self.polls >= started + 2, "two more polls")

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def trigger_for(conn_id: str, path: str) -> DatastoreChangeTrigger:
    return DatastoreChangeTrigger(datastore=conn_id, path_on_datastore=path, poll_interval=POLL)


def identity_of(client: DatastoreClient, path: str) -> str:
    [(relative, identity)] = client.content_identity(path)
    assert relative == ""
    return identity


def test_baseline_new_changed_unchanged_and_restart(store, tmp_path):
    conn_id, client = store
    put(client, "in/a.csv", b"a", tmp_path)
    put(client, "in/sub/b.csv", b"bb", tmp_path)
    put(client, "elsewhere/x.csv", b"x", tmp_path)
    watch = DatastoreWatch(client, conn_id, "in")

    async def scenario() -> None:
        first = Running(trigger_for(conn_id, "in/"))
        await first.settle()
        # First start: the files already there are the baseline and fire nothing.
        assert first.events == []
        baseline = watch.read_state()
        assert baseline is not None and set(baseline.files) == {"a.csv", "sub/b.csv"}

        put(client, "in/c.csv", b"ccc", tmp_path)
        await first.until(lambda: len(first.events) >= 1, "the new file")
        put(client, "in/a.csv", b"a changed", tmp_path)
        await first.until(lambda: len(first.events) >= 2, "the changed file")
        put(client, "elsewhere/y.csv", b"y", tmp_path)
        await first.settle()
        await first.settle()
        assert first.events == [
            {
                "datastore": conn_id,
                "path_on_datastore": "in/c.csv",
                "identity": identity_of(client, "in/c.csv"),
                "change": "new",
            },
            {
                "datastore": conn_id,
                "path_on_datastore": "in/a.csv",
                "identity": identity_of(client, "in/a.csv"),
                "change": "changed",
            },
        ]
        await first.stop()

        # "Restart": a new instance with the same kwargs announces only what was not announced.
        put(client, "in/d.csv", b"dddd", tmp_path)
        second = Running(trigger_for(conn_id, "in"))
        await second.until(lambda: len(second.events) >= 1, "the file added while stopped")
        await second.settle()
        assert [e["path_on_datastore"] for e in second.events] == ["in/d.csv"]

        # A deleted file fires nothing; created again, it is new again.
        client.delete("in/sub/b.csv")
        await second.settle()
        assert len(second.events) == 1
        assert "sub/b.csv" not in watch.read_state().files
        put(client, "in/sub/b.csv", b"bb", tmp_path)
        await second.until(lambda: len(second.events) >= 2, "the re-created file")
        await second.settle()
        assert [(e["path_on_datastore"], e["change"]) for e in second.events[1:]] == [("in/sub/b.csv", "new")]
        await second.stop()

    asyncio.run(scenario())
    # Only the newest versions of the state are kept.
    assert 1 <= len(client.list_files(watch_state_folder(conn_id, "in"))) <= 20


def test_three_instances_never_announce_a_file_twice(store, tmp_path):
    conn_id, client = store
    put(client, "drop/old.csv", b"old", tmp_path)
    count = 25  # more than the kept versions: pruning happens while the instances race

    async def scenario() -> None:
        instances = [Running(trigger_for(conn_id, "drop"))]
        await instances[0].settle()
        instances += [Running(trigger_for(conn_id, "drop")) for _ in range(2)]
        for running in instances:
            await running.settle()
        all_events = lambda: [e for running in instances for e in running.events]  # noqa: E731
        for n in range(count):
            put(client, f"drop/f{n:02d}.csv", b"x" * (n + 1), tmp_path)
            if n % 5 == 0:
                await asyncio.sleep(POLL)
        await instances[0].until(lambda: len(all_events()) >= count, f"{count} announcements")
        for running in instances:
            await running.settle()
        for running in instances:
            await running.stop()
        paths = sorted(e["path_on_datastore"] for e in all_events())
        assert paths == [f"drop/f{n:02d}.csv" for n in range(count)]

    asyncio.run(scenario())


def test_watching_the_whole_datastore_ignores_the_watch_state(store, tmp_path):
    conn_id, client = store
    put(client, "top.csv", b"t", tmp_path)

    async def scenario() -> None:
        running = Running(trigger_for(conn_id, ""))
        await running.settle()
        put(client, "new/file.csv", b"n", tmp_path)
        await running.until(lambda: len(running.events) >= 1, "the new file")
        for _ in range(3):
            await running.settle()
        await running.stop()
        assert [e["path_on_datastore"] for e in running.events] == ["new/file.csv"]

    asyncio.run(scenario())
    assert client.list_files(STATE_ROOT)


def test_watching_the_whole_datastore_ignores_what_pipelines_write_there(store, tmp_path):
    """A schedule on the whole datastore must not start a run for each output of the runs it starts."""
    conn_id, client = store

    async def scenario() -> None:
        running = Running(trigger_for(conn_id, ""))
        await running.settle()
        put(client, "mlpipe/my_pipeline/run_1/step/out/result.csv", b"o", tmp_path)
        put(client, "incoming/data.csv", b"d", tmp_path)
        await running.until(lambda: len(running.events) >= 1, "the new file")
        for _ in range(3):
            await running.settle()
        await running.stop()
        assert [e["path_on_datastore"] for e in running.events] == ["incoming/data.csv"]

    asyncio.run(scenario())


def test_files_still_being_written_are_not_announced(tmp_path, monkeypatch):
    root = tmp_path / "store"
    connection = {"conn_type": "mlpipe_local", "extra": {"root": str(root)}}
    monkeypatch.setenv("AIRFLOW_CONN_WATCH_STORE", json.dumps(connection))

    async def scenario() -> None:
        running = Running(trigger_for("watch_store", "in"))
        await running.settle()
        (root / "in").mkdir(parents=True)
        (root / "in" / f".data.csv.{uuid.uuid4().hex}.part").write_bytes(b"half")
        await running.settle()
        assert running.events == []
        (root / "in" / "data.csv").write_bytes(b"whole")
        await running.until(lambda: len(running.events) >= 1, "the finished file")
        await running.settle()
        await running.stop()
        assert [e["path_on_datastore"] for e in running.events] == ["in/data.csv"]

    asyncio.run(scenario())


def test_a_single_file_path_is_watched(store, tmp_path):
    conn_id, client = store

    async def scenario() -> None:
        running = Running(trigger_for(conn_id, "inbox/today.csv"))
        await running.settle()
        put(client, "inbox/today.csv", b"1", tmp_path)
        put(client, "inbox/other.csv", b"2", tmp_path)
        await running.until(lambda: len(running.events) >= 1, "the file")
        await running.settle()
        await running.stop()
        assert [(e["path_on_datastore"], e["change"]) for e in running.events] == [("inbox/today.csv", "new")]

    asyncio.run(scenario())


def test_a_missing_connection_is_retried_until_it_exists(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_LATE_STORE", raising=False)

    async def scenario() -> None:
        running = Running(trigger_for("late_store", "in"))
        await running.settle()
        assert running.events == [] and not running.task.done()
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "late")}}
        monkeypatch.setenv("AIRFLOW_CONN_LATE_STORE", json.dumps(connection))
        await running.settle()
        put(resolve_datastore("late_store"), "in/a.csv", b"a", tmp_path)
        await running.until(lambda: len(running.events) >= 1, "the new file")
        await running.stop()
        assert running.events[0]["path_on_datastore"] == "in/a.csv"

    asyncio.run(scenario())


def test_serialize_round_trip():
    trigger = DatastoreChangeTrigger(datastore="watch_store", path_on_datastore="/in//raw/", poll_interval=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_mlpipe.triggers.datastore_watch.DatastoreChangeTrigger"
    assert kwargs == {"datastore": "watch_store", "path_on_datastore": "in/raw", "poll_interval": 30.0}
    json.dumps(kwargs)
    again = DatastoreChangeTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert DatastoreChangeTrigger(datastore=None).serialize()[1]["datastore"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"datastore": "bad name"}, "connection id"),
        ({"datastore": 3}, "connection id"),
        ({"datastore": "ok", "path_on_datastore": None}, "must be a string"),
        ({"datastore": "ok", "path_on_datastore": "../up"}, "leaves the datastore"),
        ({"datastore": "ok", "path_on_datastore": "mlpipe/_watch/x"}, "watch state"),
        ({"datastore": "ok", "poll_interval": 0}, "poll_interval"),
        ({"datastore": "ok", "poll_interval": -1.5}, "poll_interval"),
        ({"datastore": "ok", "poll_interval": True}, "poll_interval"),
        ({"datastore": "ok", "poll_interval": "5"}, "poll_interval"),
    ],
)
def test_kwargs_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DatastoreChangeTrigger(**kwargs)


def test_datastore_schedule_is_an_asset_with_a_watcher():
    from airflow.sdk import Asset

    from airflow_provider_mlpipe import Datastore, datastore_schedule

    asset = datastore_schedule(Datastore("watch_store"), "incoming/raw/")
    assert isinstance(asset, Asset)
    assert asset.uri == "mlpipe://watch_store/incoming/raw"
    assert asset.name == asset.uri
    [watcher] = asset.watchers
    assert isinstance(watcher.trigger, DatastoreChangeTrigger)
    assert watcher.trigger.serialize()[1] == {
        "datastore": "watch_store",
        "path_on_datastore": "incoming/raw",
        "poll_interval": 300.0,
    }
    named = datastore_schedule(Datastore.default(), "in", polling_interval=0.5, name="new_data")
    assert named.name == "new_data" and named.uri == "mlpipe://default/in"
    assert named.watchers[0].trigger.poll_interval == 30.0
    with pytest.raises(ValueError, match="polling_interval"):
        datastore_schedule(Datastore("x"), "in", polling_interval=0)
    with pytest.raises(TypeError, match="Datastore"):
        datastore_schedule("x", "in")  # type: ignore[arg-type]


def test_trigger_module_is_declared_by_the_provider():
    from airflow_provider_mlpipe.get_provider_info import get_provider_info

    modules = [m for entry in get_provider_info()["triggers"] for m in entry["python-modules"]]
    assert "airflow_provider_mlpipe.triggers.datastore_watch" in modules

"""`python -m airflow_provider_mlpipe reuse ...` on a local folder and on Azurite (no mocks).

Entries are written by `ReuseCacheHook.record`; their ages are set by rewriting the entry
through the datastore client, and fake outputs are written where the records point.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_mlpipe import reuse_cli
from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook
from airflow_provider_mlpipe.runtime.reuse_key import KeyComponent, ReuseKey
from tests.conftest import REPO
from tests.services.azurite import airflow_conn_env, blob_connection

INDEX = "reuse_index"


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.integration)])
def hook(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReuseCacheHook:
    """The reuse index on a fresh datastore named INDEX: a local folder, or a container on Azurite."""
    if request.param == "local":
        connection = {"conn_type": "mlpipe_local", "extra": {"root": str(tmp_path / "store")}}
    else:
        server = request.getfixturevalue("azurite")
        connection = blob_connection(server, f"t{uuid.uuid4().hex[:16]}", root="ml")
    for name, value in airflow_conn_env(INDEX, connection).items():
        monkeypatch.setenv(name, value)
    return ReuseCacheHook(INDEX)


def key_for(tag: str) -> ReuseKey:
    return ReuseKey((KeyComponent("step", tag, f"step {tag}"), KeyComponent("params", "p0", "{}")))


@functools.cache
def colliding_keys() -> tuple[ReuseKey, ReuseKey]:
    """Two keys whose digests share their first 6 characters (found by trying, in milliseconds)."""
    seen: dict[str, ReuseKey] = {}
    for i in range(1_000_000):
        key = key_for(f"collide-{i}")
        if key.digest[:6] in seen:
            return seen[key.digest[:6]], key
        seen[key.digest[:6]] = key
    raise AssertionError("no colliding prefix found")


def record(
    hook: ReuseCacheHook,
    key: ReuseKey | str,
    dag: str = "train",
    task: str = "fit",
    run: str = "manual__1",
    outputs: dict[str, str] | None = None,
    age: datetime.timedelta | None = None,
) -> str:
    """Record an entry (outputs: name -> path, written as fake files); `age` backdates it."""
    key = key if isinstance(key, ReuseKey) else key_for(key)
    paths = outputs if outputs is not None else {"model": f"mlpipe/{dag}/{run}/{task}/model"}
    records = {}
    for name, path in paths.items():
        hook.client.create_only(f"{path}/part-0", b"fake output")
        records[name] = {"output_name": name, "datastore": INDEX, "path_on_datastore": path}
    source = {"dag_id": dag, "run_id": run, "task_id": task, "try_number": 1}
    assert hook.record(key, records, source, {"git": {"commit": "abc123"}})
    if age is not None:
        entry = hook.get_entry(key.digest)
        when = datetime.datetime.now(datetime.timezone.utc) - age
        entry["created_at"] = when.isoformat()
        hook.client.delete(hook.entry_path(key.digest))
        assert hook.client.create_only(hook.entry_path(key.digest), json.dumps(entry).encode())
    return key.digest


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process against INDEX; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = reuse_cli.main(["reuse", "--datastore", INDEX, *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def keys_left(hook: ReuseCacheHook) -> set[str]:
    return {e["key"] for e in hook.list_entries()}


DAYS = datetime.timedelta(days=1)


# ---------------------------------------------------------------------- list


@pytest.fixture
def three(hook: ReuseCacheHook) -> Iterator[dict[str, str]]:
    """Entries: old (train/fit, 40 days), mid (train/score, 10 days), new (report/fit, now)."""
    yield {
        "old": record(hook, "old", "train", "fit", "run_old", age=40 * DAYS),
        "mid": record(hook, "mid", "train", "score", "run_mid", age=10 * DAYS),
        "new": record(hook, "new", "report", "fit", "run_new"),
    }


def test_list_is_newest_first_with_key_source_and_outputs(hook, three, capsys):
    code, out, _ = cli(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[2] for line in lines] == [three[k][:16] for k in ("new", "mid", "old")]
    assert "report/run_new/fit" in lines[0] and lines[0].endswith("model")
    assert "train/run_old/fit" in lines[2]
    old_when = datetime.datetime.fromisoformat(hook.get_entry(three["old"])["created_at"])
    assert lines[2].startswith(old_when.strftime("%Y-%m-%d %H:%M"))


def test_list_filters_by_dag_and_task(hook, three, capsys):
    def listed(*args: str) -> list[str]:
        code, out, _ = cli(capsys, "list", *args)
        assert code == 0
        return [line.split()[2] for line in out.splitlines()]

    short = {name: key[:16] for name, key in three.items()}
    assert listed("--dag", "train") == [short["mid"], short["old"]]
    assert listed("--task", "fit") == [short["new"], short["old"]]
    assert listed("--dag", "train", "--task", "fit") == [short["old"]]
    assert listed("--dag", "nothing") == []


def test_list_json_gives_the_full_entries(hook, three, capsys):
    code, out, _ = cli(capsys, "list", "--json", "--dag", "train")
    assert code == 0
    entries = json.loads(out)
    assert entries == [hook.get_entry(three["mid"]), hook.get_entry(three["old"])]
    assert entries[0]["components"]["step"] == {"digest": "mid", "detail": "step mid"}
    assert entries[0]["run"] == {"git": {"commit": "abc123"}}


def test_empty_index_lists_nothing(hook, capsys):
    code, out, err = cli(capsys, "list")
    assert (code, out) == (0, "") and "no reuse entries" in err
    code, out, _ = cli(capsys, "list", "--json")
    assert (code, json.loads(out)) == (0, [])


def test_list_as_a_real_module_subprocess(hook, three):
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_mlpipe", "reuse", "--datastore", INDEX, "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[2] for line in result.stdout.splitlines()] == [
        three[k][:16] for k in ("new", "mid", "old")
    ]
    assert "Traceback" not in result.stderr


def test_default_index_is_the_reuse_datastore_setting(hook, three, capsys, monkeypatch):
    monkeypatch.setenv("AIRFLOW__MLPIPE__REUSE_DATASTORE", INDEX)
    capsys.readouterr()
    assert reuse_cli.main(["reuse", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


# ---------------------------------------------------------------------- show


def test_show_by_prefix_reports_which_outputs_still_exist(hook, capsys):
    outputs = {"model": "mlpipe/train/r1/fit/model", "metrics": "mlpipe/train/r1/fit/metrics"}
    key = record(hook, "shown", outputs=outputs)
    hook.client.delete(outputs["metrics"])

    for given in (key, key[:6], key[:20].upper()):
        code, out, _ = cli(capsys, "show", given)
        assert code == 0
        document, _, report = out.partition("\nentry file: ")
        assert json.loads(document) == hook.get_entry(key)
        assert report.startswith(hook.client.uri(hook.entry_path(key)))
        assert f"  model: present  {hook.client.uri(outputs['model'])}" in report
        assert f"  metrics: MISSING  {hook.client.uri(outputs['metrics'])}" in report


def test_show_refuses_ambiguous_unknown_and_short_prefixes(hook, capsys):
    first, second = colliding_keys()
    record(hook, first, run="r1")
    record(hook, second, run="r2")
    shared = os.path.commonprefix([first.digest, second.digest])

    code, out, err = cli(capsys, "show", shared)
    assert (code, out) == (2, "")
    assert "ambiguous" in err and first.digest[:16] in err and second.digest[:16] in err

    code, out, _ = cli(capsys, "show", second.digest[: len(shared) + 1])
    assert code == 0 and json.loads(out.partition("\nentry file: ")[0])["key"] == second.digest

    unknown = next(p for p in ("000000", "ffffff", "123456") if not first.digest.startswith(p))
    code, _, err = cli(capsys, "show", unknown)
    assert code == 2 and f"no reuse entry has a key starting with '{unknown}'" in err

    code, _, err = cli(capsys, "show", first.digest[:5])
    assert code == 2 and "at least 6 characters" in err


def write_entry(hook: ReuseCacheHook, tag: str, outputs: dict) -> str:
    """An entry as a damaged or foreign index would hold it (bypassing `record`)."""
    key = key_for(tag).digest
    source = {"dag_id": "train", "run_id": "r9", "task_id": "fit", "try_number": 1}
    entry = {"key": key, "outputs": outputs, "source": source, "created_at": "2026-01-01T00:00:00+00:00"}
    assert hook.client.create_only(hook.entry_path(key), json.dumps(entry).encode())
    return key


def test_show_names_the_problem_of_each_invalid_output(hook, capsys):
    key = write_entry(
        hook,
        "invalid",
        {
            "escapes": {"datastore": INDEX, "path_on_datastore": "../elsewhere/model"},
            "absolute": {"datastore": INDEX, "path_on_datastore": "/etc/model"},
            "unknown": {"datastore": "no_such_store", "path_on_datastore": "mlpipe/x"},
            "junk": "mlpipe/x",
        },
    )
    code, out, _ = cli(capsys, "show", key[:10])
    assert code == 0
    assert "  escapes: INVALID  path '../elsewhere/model' leaves the datastore" in out
    assert "  absolute: INVALID  path '/etc/model' is absolute" in out
    assert "  unknown: UNKNOWN  datastore 'no_such_store': no Airflow connection with that id" in out
    assert "  junk: INVALID  not an output record" in out
    code, out, _ = cli(capsys, "list")
    assert code == 0 and f"{key[:16]}  train/r9/fit  absolute, escapes, junk, unknown" in out


def test_show_of_an_unreadable_entry_says_what_is_wrong(hook, capsys):
    key = key_for("unreadable").digest
    assert hook.client.create_only(hook.entry_path(key), b"{not json")
    code, out, err = cli(capsys, "show", key)
    assert (code, out) == (1, "")
    assert f"reuse entry {hook.entry_path(key)} is not valid JSON" in err
    assert "the next run of its step replaces it" in err


def test_delete_outputs_never_follows_an_invalid_path(hook, capsys):
    hook.client.create_only("etc/model/part-0", b"not the entry's")  # where '/etc/model' would land
    key = write_entry(hook, "absolute", {"model": {"datastore": INDEX, "path_on_datastore": "/etc/model"}})
    code, out, err = cli(capsys, "clear", "--key", key, "--delete-outputs")
    assert code == 0, err
    assert f"skipped output {INDEX}:/etc/model (path '/etc/model' is absolute)" in out
    assert "Removed 1 entry and 0 output(s)" in out
    assert hook.client.exists("etc/model") and keys_left(hook) == set()


# ---------------------------------------------------------------------- clear


def test_clear_older_than_removes_only_older_entries(hook, three, capsys):
    code, out, _ = cli(capsys, "clear", "--older-than", "30d")
    assert code == 0
    assert "removed entry  " in out and three["old"][:16] in out and "Removed 1 entry " in out
    assert keys_left(hook) == {three["mid"], three["new"]}

    code, out, _ = cli(capsys, "clear", "--older-than", "1w")
    assert code == 0 and three["mid"][:16] in out and "Removed 1 entry " in out
    assert keys_left(hook) == {three["new"]}

    code, out, _ = cli(capsys, "clear", "--older-than", "45m")
    assert code == 0 and "Removed 0 entries" in out
    assert keys_left(hook) == {three["new"]}
    # entries only: the outputs they recorded are still there
    assert hook.client.exists("mlpipe/train/run_old/fit/model")


def test_clear_older_than_with_dag_filter(hook, three, capsys):
    code, out, _ = cli(capsys, "clear", "--older-than", "12h", "--dag", "report")
    assert code == 0 and "Removed 0 entries" in out
    code, out, _ = cli(capsys, "clear", "--older-than", "12h", "--dag", "train")
    assert code == 0 and "Removed 2 entries" in out
    assert keys_left(hook) == {three["new"]}


def test_clear_by_key_prefix(hook, three, capsys):
    code, out, _ = cli(capsys, "clear", "--key", three["mid"][:10])
    assert code == 0 and three["mid"][:16] in out and "Removed 1 entry " in out
    assert keys_left(hook) == {three["old"], three["new"]}

    code, _, err = cli(capsys, "clear", "--key", three["mid"][:10])
    assert code == 2 and "no reuse entry" in err
    assert keys_left(hook) == {three["old"], three["new"]}


def test_clear_all_needs_yes_unless_dry_run(hook, three, capsys):
    code, out, err = cli(capsys, "clear", "--all")
    assert (code, out) == (2, "") and "--yes" in err
    assert len(keys_left(hook)) == 3

    code, out, _ = cli(capsys, "clear", "--all", "--dry-run", "--delete-outputs")
    assert code == 0
    assert out.count("would remove entry  ") == 3 and out.count("would remove output  ") == 3
    assert "Would remove 3 entries and 3 output(s)" in out
    assert len(keys_left(hook)) == 3 and hook.client.exists("mlpipe/train/run_old/fit/model")

    code, out, _ = cli(capsys, "clear", "--all", "--yes")
    assert code == 0 and "Removed 3 entries" in out
    assert keys_left(hook) == set()
    assert hook.client.exists("mlpipe/train/run_old/fit/model")


def test_delete_outputs_keeps_outputs_another_entry_still_records(hook, capsys):
    shared = "mlpipe/train/r1/fit/model"
    own = "mlpipe/train/r1/fit/metrics"
    old = record(hook, "old", run="r1", outputs={"model": shared, "metrics": own}, age=5 * DAYS)
    new = record(hook, "new", run="r2", outputs={"model": shared})
    gone = record(hook, "gone", dag="other", run="r3", age=5 * DAYS)  # its own output only

    code, out, _ = cli(capsys, "clear", "--older-than", "2d", "--delete-outputs", "--dry-run")
    assert code == 0 and "Would remove 2 entries and 2 output(s)" in out
    assert keys_left(hook) == {old, new, gone} and hook.client.exists(own)

    code, out, _ = cli(capsys, "clear", "--older-than", "2d", "--delete-outputs")
    assert code == 0
    assert f"removed output  {INDEX}:{own}" in out
    assert f"kept output    {INDEX}:{shared} (still recorded by entry {new[:16]})" in out
    assert "Removed 2 entries and 2 output(s)" in out
    assert keys_left(hook) == {new}
    assert hook.client.exists(shared)
    assert not hook.client.exists(own)
    assert not hook.client.exists("mlpipe/other/r3/fit/model")


# ---------------------------------------------------------------------- user mistakes


@pytest.mark.parametrize("age", ["3x", "30", "d", "-1d", "1.5h"])
def test_bad_age_is_exit_2_naming_it(hook, capsys, age):
    code, out, err = cli(capsys, "clear", f"--older-than={age}")
    assert (code, out) == (2, "")
    assert f"bad age '{age}'" in err


def test_ages_in_every_unit():
    assert reuse_cli.parse_age("45m") == datetime.timedelta(minutes=45)
    assert reuse_cli.parse_age("12h") == datetime.timedelta(hours=12)
    assert reuse_cli.parse_age("30d") == datetime.timedelta(days=30)
    assert reuse_cli.parse_age("2w") == datetime.timedelta(weeks=2)


def test_unknown_datastore_is_exit_2_naming_it(capsys):
    for args in (["reuse", "--datastore", "nowhere", "list"], ["--datastore", "nowhere", "reuse", "list"]):
        capsys.readouterr()
        assert reuse_cli.main(args) == 2
        out, err = capsys.readouterr()
        assert out == "" and "datastore 'nowhere': no Airflow connection" in err
        assert "Traceback" not in err


def test_missing_command_is_a_usage_error(capsys):
    assert reuse_cli.main(["reuse"]) == 2
    assert "usage:" in capsys.readouterr().err

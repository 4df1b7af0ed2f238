"""Working folders of task attempts: made locked, removed at the end, swept only when their owner is dead."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_provider_mlpipe.runtime.guard import remove_folder
from airflow_provider_mlpipe.runtime.workdir import LOCK_NAME, attempt_folder, sweep_dead_attempts

#: Holds an attempt folder in `root` until killed; prints the folder's path.
HOLDER = """
    import sys, time
    from pathlib import Path
    from airflow_provider_mlpipe.runtime.workdir import attempt_folder
    with attempt_folder("holder", Path(sys.argv[1])) as folder:
        (folder / "data").write_text("mine")
        print(folder, flush=True)
        time.sleep(120)
"""

#: Many attempts one after another, each sweeping; exits 1 if its own folder or file ever vanished.
CHURN = """
    import sys, time
    from pathlib import Path
    from airflow_provider_mlpipe.runtime.workdir import attempt_folder
    root, rounds = Path(sys.argv[1]), int(sys.argv[2])
    for n in range(rounds):
        with attempt_folder("churn", root) as folder:
            (folder / "data").write_text(str(n))
            time.sleep(0.002)
            if (folder / "data").read_text() != str(n):
                sys.exit(1)
"""


def start(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True
    )


def test_a_folder_is_locked_while_in_use_and_removed_after(tmp_path):
    with attempt_folder("step", tmp_path) as folder:
        assert folder.parent == tmp_path and folder.name.startswith("mlpipe-step-")
        assert (folder / LOCK_NAME).is_file()
        assert sweep_dead_attempts(tmp_path) == [] and folder.exists()
    assert not folder.exists()


def test_the_sweep_removes_dead_attempts_folders_only(tmp_path):
    live, dead = start(HOLDER, str(tmp_path)), start(HOLDER, str(tmp_path))
    try:
        live_folder, dead_folder = Path(live.stdout.readline().strip()), Path(dead.stdout.readline().strip())
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        unlocked = tmp_path / "mlpipe-test-airflow-xyz"  # somebody else's folder: no lock file
        unlocked.mkdir()
        assert dead_folder.exists()
        assert sweep_dead_attempts(tmp_path) == [dead_folder]
        assert not dead_folder.exists()
        assert (live_folder / "data").read_text() == "mine" and unlocked.exists()
    finally:
        live.kill()
        live.wait(timeout=30)
    with attempt_folder("next", tmp_path):  # a new attempt sweeps the holder's folder (killed now)
        assert not live_folder.exists()


def test_concurrent_attempts_and_sweeps_never_take_a_live_folder_and_leave_none_of_the_dead(tmp_path):
    churners = [start(CHURN, str(tmp_path), "150") for _ in range(4)]
    holders = [start(HOLDER, str(tmp_path)) for _ in range(6)]
    folders = [Path(h.stdout.readline().strip()) for h in holders]
    victims = random.sample(range(len(holders)), 3)
    for index in victims:
        time.sleep(0.05)
        holders[index].send_signal(signal.SIGKILL)
        holders[index].wait(timeout=30)
    assert [c.wait(timeout=300) for c in churners] == [0, 0, 0, 0]
    try:
        for index, folder in enumerate(folders):
            assert folder.exists() == (index not in victims), (index, victims)
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=30)
    sweep_dead_attempts(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_sweep_ignores_folders_it_cannot_own(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / LOCK_NAME).write_text("")
    os.symlink(target, tmp_path / "mlpipe-link")  # a symlink is never followed
    (tmp_path / "mlpipe-file").write_text("")
    assert sweep_dead_attempts(tmp_path) == []
    assert target.exists() and (tmp_path / "mlpipe-link").is_symlink()


def test_a_removal_cut_short_leaves_the_lock_for_the_next_sweep(tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "mlpipe-cut-short"
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "train.py").write_text("")
    (folder / LOCK_NAME).write_text("")  # its owner is gone: nobody holds the lock

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the remover dies in the middle

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        remove_folder(folder)
    monkeypatch.undo()
    assert (folder / LOCK_NAME).exists(), "the lock file goes last"
    assert sweep_dead_attempts(tmp_path) == [folder] and not folder.exists()

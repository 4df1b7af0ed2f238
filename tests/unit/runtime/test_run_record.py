"""Run records: the git state of a step's source_directory, and the snapshot size guard."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airflow_provider_mlpipe.runtime.run_record import (
    SnapshotTooLargeError,
    check_snapshot_size,
    git_info,
    snapshot_limits,
)

NONE_INFO = {"repository_uri": None, "branch": None, "commit": None, "dirty": None}


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch, tmp_path):
    """Keep git away from the user's config, the enclosing repo and stray AZUREML_GIT_* vars."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-gitconfig"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("REPOSITORY_URI", "BRANCH", "COMMIT", "DIRTY"):
        monkeypatch.delenv(f"AZUREML_GIT_{name}", raising=False)


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repo on branch `main` with one commit: `steps/train/train.py` and `other/util.py`."""
    root = tmp_path / "repo"
    (root / "steps" / "train").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "steps" / "train" / "train.py").write_text("print('train')\n")
    (root / "other" / "util.py").write_text("X = 1\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_not_a_repo_gives_none(tmp_path):
    assert git_info(tmp_path, env={}) == NONE_INFO


def test_no_source_dir_or_missing_folder_gives_none(tmp_path):
    assert git_info(None, env={}) == NONE_INFO
    assert git_info(tmp_path / "does-not-exist", env={}) == NONE_INFO


def test_clean_repo_commit_branch_no_remote(repo):
    info = git_info(repo / "steps" / "train", env={})
    assert info == {
        "repository_uri": None,
        "branch": "main",
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty": False,
    }
    assert len(info["commit"]) == 40


def test_remote_url_recorded_without_credentials(repo):
    git(repo, "remote", "add", "origin", "https://github.com/org/ml.git")
    assert git_info(repo, env={})["repository_uri"] == "https://github.com/org/ml.git"
    git(repo, "remote", "set-url", "origin", "https://user:s3cret@github.com/org/ml.git")
    assert git_info(repo, env={})["repository_uri"] == "https://github.com/org/ml.git"
    git(repo, "remote", "set-url", "origin", "git@github.com:org/ml.git")
    assert git_info(repo, env={})["repository_uri"] == "git@github.com:org/ml.git"


def test_dirty_only_counts_tracked_changes_inside_source_dir(repo):
    source = repo / "steps" / "train"
    (repo / "other" / "util.py").write_text("X = 2\n")
    assert git_info(source, env={})["dirty"] is False
    assert git_info(repo, env={})["dirty"] is True

    (source / "scratch.py").write_text("untracked\n")
    assert git_info(source, env={})["dirty"] is False

    (source / "train.py").write_text("print('changed')\n")
    assert git_info(source, env={})["dirty"] is True


def test_staged_change_inside_source_dir_is_dirty(repo):
    source = repo / "steps" / "train"
    (source / "new.py").write_text("staged\n")
    git(repo, "add", "steps/train/new.py")
    assert git_info(source, env={})["dirty"] is True


def test_detached_head_has_no_branch(repo):
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    info = git_info(repo, env={})
    assert info["branch"] is None
    assert info["commit"] == commit
    assert info["dirty"] is False


def test_unborn_branch_has_branch_but_no_commit(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", "-b", "dev")
    assert git_info(root, env={}) == {"repository_uri": None, "branch": "dev", "commit": None, "dirty": False}


def test_env_overrides_replace_git_fields(repo):
    env = {
        "AZUREML_GIT_REPOSITORY_URI": "https://dev.azure.com/org/ml",
        "AZUREML_GIT_BRANCH": "release",
        "AZUREML_GIT_COMMIT": "abc123",
        "AZUREML_GIT_DIRTY": "TRUE",
    }
    assert git_info(repo, env=env) == {
        "repository_uri": "https://dev.azure.com/org/ml",
        "branch": "release",
        "commit": "abc123",
        "dirty": True,
    }


def test_env_overrides_only_the_fields_that_are_set(repo):
    info = git_info(repo, env={"AZUREML_GIT_BRANCH": "ci"})
    assert info["branch"] == "ci"
    assert info["commit"] == git(repo, "rev-parse", "HEAD")
    assert info["dirty"] is False


def test_env_overrides_work_without_a_repo(tmp_path):
    env = {"AZUREML_GIT_COMMIT": "deadbeef", "AZUREML_GIT_DIRTY": "0"}
    assert git_info(tmp_path, env=env) == {**NONE_INFO, "commit": "deadbeef", "dirty": False}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("YES", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        (" No ", False),
        ("maybe", None),
        ("", None),
    ],
)
def test_env_dirty_parsing(repo, value, expected):
    (repo / "other" / "util.py").write_text("X = 3\n")
    assert git_info(repo, env={"AZUREML_GIT_DIRTY": value})["dirty"] is expected


def test_env_defaults_to_os_environ(repo, monkeypatch):
    monkeypatch.setenv("AZUREML_GIT_BRANCH", "from-environ")
    monkeypatch.setenv("AZUREML_GIT_DIRTY", "yes")
    info = git_info(repo)
    assert info["branch"] == "from-environ"
    assert info["dirty"] is True


def test_empty_env_value_clears_the_field(repo):
    git(repo, "remote", "add", "origin", "https://github.com/org/ml.git")
    assert git_info(repo, env={"AZUREML_GIT_REPOSITORY_URI": ""})["repository_uri"] is None


def test_git_missing_gives_none(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    assert git_info(repo, env={}) == NONE_INFO


# --- snapshot size guard ---


def make_files(root: Path, sizes: dict[str, int]) -> list[str]:
    for relative, size in sizes.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"x" * size)
    return sorted(sizes)


def test_within_limits_returns_total_bytes(tmp_path):
    files = make_files(tmp_path, {"a.py": 100, "b.py": 200, "pkg/c.py": 300})
    assert check_snapshot_size("train", tmp_path, files, max_bytes=1024, max_files=3) == 600


def test_over_the_file_count(tmp_path):
    files = make_files(tmp_path, {"a.py": 10, "b.py": 20, "c.py": 30, "d.py": 40})
    with pytest.raises(SnapshotTooLargeError) as raised:
        check_snapshot_size("train", tmp_path, files, max_bytes=1024, max_files=3)
    message = str(raised.value)
    assert message.startswith(
        f"step 'train': source_directory {tmp_path} holds 4 files / 100 bytes, "
        "over the limit of 3 files / 1.0 KB; largest files: d.py (40 bytes), c.py (30 bytes), "
    )
    assert message.endswith(
        "exclude them with .amlignore or raise [mlpipe] snapshot_max_files / snapshot_max_mb"
    )
    assert isinstance(raised.value, ValueError)


def test_over_the_byte_size_names_the_five_largest_in_order(tmp_path):
    files = make_files(
        tmp_path,
        {"small.txt": 1, "data/big.csv": 900, "b.bin": 300, "a.bin": 300, "m.py": 50, "n.py": 40, "o.py": 60},
    )
    with pytest.raises(SnapshotTooLargeError) as raised:
        check_snapshot_size("prep", tmp_path, files, max_bytes=1024, max_files=100)
    message = str(raised.value)
    assert "holds 7 files / 1.6 KB, over the limit of 100 files / 1.0 KB" in message
    assert (
        "largest files: data/big.csv (900 bytes), a.bin (300 bytes), b.bin (300 bytes), "
        "o.py (60 bytes), m.py (50 bytes); exclude"
    ) in message
    assert "n.py" not in message
    assert "small.txt" not in message


def test_thousands_separators_and_megabytes(tmp_path):
    files = make_files(tmp_path, {"big.bin": 3 * 1024 * 1024 + 512 * 1024})
    files += [f"missing/{i}.py" for i in range(2344)]  # vanished files count as 0 bytes
    with pytest.raises(
        SnapshotTooLargeError,
        match=r"holds 2,345 files / 3\.5 MB, over the limit of 2,000 files / 3\.0 MB; largest files: big\.bin \(3\.5 MB\)",
    ):
        check_snapshot_size("train", tmp_path, files, max_bytes=3 * 1024 * 1024, max_files=2000)


def test_zero_means_no_limit(tmp_path):
    files = make_files(tmp_path, {"a.py": 2000, "b.py": 2000, "c.py": 2000, "d.py": 2000})
    assert check_snapshot_size("train", tmp_path, files, max_bytes=0, max_files=0) == 8000
    assert check_snapshot_size("train", tmp_path, files, max_bytes=0, max_files=4) == 8000
    assert check_snapshot_size("train", tmp_path, files, max_bytes=8000, max_files=0) == 8000
    with pytest.raises(SnapshotTooLargeError, match="over the limit of no limit on files / 1.0 KB"):
        check_snapshot_size("train", tmp_path, files, max_bytes=1024, max_files=0)
    with pytest.raises(SnapshotTooLargeError, match="over the limit of 3 files / no limit on size"):
        check_snapshot_size("train", tmp_path, files, max_bytes=0, max_files=3)


def test_snapshot_limits_defaults(monkeypatch):
    monkeypatch.delenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_MB", raising=False)
    monkeypatch.delenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_FILES", raising=False)
    assert snapshot_limits() == (300 * 1024 * 1024, 2000)


def test_snapshot_limits_from_env(monkeypatch):
    monkeypatch.setenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_MB", "5")
    monkeypatch.setenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_FILES", "10")
    assert snapshot_limits() == (5 * 1024 * 1024, 10)
    monkeypatch.setenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_MB", "0")
    monkeypatch.setenv("AIRFLOW__MLPIPE__SNAPSHOT_MAX_FILES", "0")
    assert snapshot_limits() == (0, 0)

"""Snapshots of a source folder: .amlignore wins over .gitignore, with gitignore semantics."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_mlpipe.runtime.snapshot import copy_snapshot, snapshot_files


def make(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_gitignore_semantics_negation_anchoring_and_folders(tmp_path):
    src = make(
        tmp_path,
        {
            ".gitignore": "*.log\n!keep.log\n/build/\ndata/**/*.csv\n",
            "train.py": "",
            "debug.log": "",
            "keep.log": "",
            "build/out.bin": "",
            "pkg/build/inner.txt": "",
            "data/a/b/c.csv": "",
            "data/readme.md": "",
            ".git/HEAD": "",
        },
    )
    assert snapshot_files(src) == [
        ".gitignore",
        "data/readme.md",
        "keep.log",
        "pkg/build/inner.txt",
        "train.py",
    ]


def test_amlignore_wins_over_gitignore(tmp_path):
    src = make(
        tmp_path, {".gitignore": "*.py\n", ".amlignore": "secret/\n", "train.py": "", "secret/key": ""}
    )
    assert snapshot_files(src) == [".amlignore", ".gitignore", "train.py"]


def test_no_ignore_file_copies_everything_but_git(tmp_path):
    src = make(tmp_path / "src", {"a.py": "x", "sub/b.txt": "y", ".git/config": ""})
    copied = copy_snapshot(src, tmp_path / "copy")
    assert copied == ["a.py", "sub/b.txt"]
    assert (tmp_path / "copy" / "sub" / "b.txt").read_text() == "y"

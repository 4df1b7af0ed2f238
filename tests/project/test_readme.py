"""Every fenced block of README.md runs, or is listed here with the tests that cover it: the README cannot drift.

The blocks run in README order, in a copy of the repository where `make demo` has run and
`make ui` is running (tests/services/local_ui.py), as a reader who did the Quickstart types them:

- `bash`: `bash` with `set -euo pipefail` in the copy, from a fresh shell (no virtualenv on PATH,
  a HOME of its own). Variables a block sets are seen by the later blocks of its `##` section (one
  terminal per section). `http://localhost:8080`, make ui's address in the README, becomes the
  test's make ui (a free port).
- `python`: saved as a file in a folder that links `dags/`'s entries (DAG-file fragments find the
  examples' source folders) and run with `make python ARGS=<file>` (make ui's settings), in the
  environment of the section's terminal.
- `json`: must parse.

An HTML comment `<!-- docs-test: ... -->` on the line before a block changes that (`DIRECTIVES`).
`<name>` placeholders in a block are filled from `PLACEHOLDERS`. A block that cannot run here must
be in `NOT_RUN`, keyed by its first line, naming the tests that cover it and why; a block that is
neither runnable nor listed, a stale `NOT_RUN` entry, or a covering test that does not exist fails
the fast test below, so new README text from anyone is held to the same rule.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.services.local_ui import MAKE, LocalUI

README = REPO / "README.md"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*$")
DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(?P<body>.*?)\s*-->$")
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9_ -]*>")
SECTION = re.compile(r"^## (?P<title>.+)$")
#: make ui's address as the README writes it.
README_URL = "http://localhost:8080"
#: What each `<!-- docs-test: NAME args -->` means, and how many arguments it takes.
DIRECTIVES = {
    "v1": (0, "v1 SDK code (starts with `# v1`): compiled, not run (it needs the Azure ML SDK v1)"),
    "continues": (1, "python: run after the named file of the repository (names it defines, its folder)"),
    "file": (1, "saved as the named file in the copy, for a later block of the section to run"),
    "server": (0, "the long-running `make ui`: the test starts it (on a free port) and keeps it up"),
}
BLOCK_TIMEOUT_SECONDS = 600
#: Filters bash's own variables (some appear only once used) out of what a terminal keeps.
BASH_OWN = r"grep -vE '^(BASH.*|FUNCNAME|PIPESTATUS|GROUPS|OPTIND|OPTARG|REPLY|COLUMNS|LINES|_)$'"


@dataclass(frozen=True)
class NotRun:
    """A block that cannot run in the test: the tests that cover what it shows, and why."""

    covered_by: tuple[str, ...]
    why: str
    compile_python: bool = False


#: Blocks not run, by their first line (exactly as in the README: change one, revisit its entry).
NOT_RUN: dict[str, NotRun] = {
    "from airflow_provider_mlpipe import Datastore, Schedule, ScheduleRecurrence, Workspace": NotRun(
        (
            "tests/integration/test_schedules_local.py::test_a_schedule_made_in_a_notebook_submits_one_run_per_logical_date",
            "tests/integration/test_schedules_deployment.py::"
            "test_a_remote_schedule_fires_once_per_minute_survives_a_restart_and_stops_when_disabled",
        ),
        "schedules a published pipeline in the deployment; waiting for its runs takes minutes: compiled only",
        compile_python=True,
    ),
    "make demo": NotRun(
        (
            "tests/project/test_make_targets.py::test_make_demo_runs_the_example_and_the_second_run_reuses_every_step",
            "tests/project/test_make_targets.py::test_make_demo_with_another_parameter_reruns_only_the_step_using_it",
        ),
        "the Quickstart: `make demo` ran in this test's checkout before any block (local_demo fixture); "
        "`make test` is this suite, which cannot run itself",
    ),
    "source: 3143d2458367aa3e  4 file(s), 6240 bytes in /work/main/dags/compare_models": NotRun(
        ("tests/integration/test_reuse.py::test_reuse_reruns_exactly_what_changed",),
        "sample task-log lines of a reuse decision, not a command",
    ),
    "cp .env.example .env            # optional: every setting has a default": NotRun(
        (
            "tests/project/test_docker_compose.py::test_docker_compose_config_accepts_the_file",
            "tests/project/test_docker_compose.py::test_init_script_writes_login_and_example_data",
            "tests/project/test_docker_compose.py::test_init_script_creates_the_blob_container",
        ),
        "needs Docker and pulls images; the file, its init script and `docker compose config` are tested",
    ),
    '# U-SQL:  @rows = EXTRACT ... FROM "@@prepared@@/wine.csv" USING Extractors.Csv(skipFirstNRows: 1);': NotRun(
        (),
        "PySpark for a Databricks cluster (`spark` and `args` are the cluster's script's): compiled only",
        compile_python=True,
    ),
}


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int
    lang: str
    text: str
    section: str
    directive: tuple[str, ...] = ()

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "")

    @property
    def kind(self) -> str:
        return self.directive[0] if self.directive else ""

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang or 'plain'} block in '{self.section}': {self.first_line[:60]!r})"


def readme_blocks(text: str | None = None) -> list[Block]:
    """The fenced blocks of the README with their section and docs-test directive."""
    lines = (README.read_text() if text is None else text).splitlines()
    blocks, section, index = [], "", 0
    while index < len(lines):
        heading = SECTION.match(lines[index])
        if heading:
            section = heading["title"]
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"README.md:{index + 1}: a fence that is never closed"
        indent = len(fence["indent"])
        body = "\n".join(
            line[indent:] if line[:indent].strip() == "" else line for line in lines[index + 1 : end]
        )
        before = next((lines[j].strip() for j in range(index - 1, -1, -1) if lines[j].strip()), "")
        directive = DIRECTIVE.match(before)
        words = tuple(shlex.split(directive["body"])) if directive else ()
        blocks.append(Block(index + 1, fence["lang"], body + "\n", section, words))
        index = end + 1
    return blocks


def planned(block: Block) -> str:
    """How the test treats a block: run-bash, run-python, parse-json, compile, server, file, not-run."""
    if block.first_line in NOT_RUN:
        return "not-run"
    if block.kind == "v1":
        return "compile"
    if block.kind in ("server", "file"):
        return block.kind
    return {"bash": "run-bash", "python": "run-python", "json": "parse-json"}.get(block.lang, "unplanned")


# ---------------------------------------------------------------------- the fast checks


def test_every_readme_block_is_run_or_listed_with_the_tests_that_cover_it():
    blocks = readme_blocks()
    problems = []
    for block in blocks:
        plan = planned(block)
        if plan == "unplanned":
            problems.append(f"{block}: not runnable ({block.lang or 'no language'}) and not in NOT_RUN")
        if block.directive:
            arity = DIRECTIVES.get(block.kind, (None,))[0]
            if arity is None or len(block.directive) - 1 != arity:
                problems.append(
                    f"{block}: unknown directive {' '.join(block.directive)!r}; known: {DIRECTIVES}"
                )
        if plan == "compile" and block.first_line != "# v1":
            problems.append(f"{block}: a v1 block must start with '# v1'")
        if block.kind == "continues" and not (REPO / block.directive[1]).is_file():
            problems.append(f"{block}: continues {block.directive[1]}, which does not exist")
        if block.kind == "file" and not _used_later(block, blocks):
            problems.append(
                f"{block}: saved as {block.directive[1]} but no later block of its section uses it"
            )
        if block.kind == "server" and block.text.split() != ["make", "ui"]:
            problems.append(f"{block}: the server block must be `make ui` (the command the test runs)")
        if block.lang == "python" and (plan != "not-run" or NOT_RUN[block.first_line].compile_python):
            try:
                ast.parse(block.text)
            except SyntaxError as error:
                problems.append(f"{block}: not valid Python: {error}")
        if plan == "parse-json":
            try:
                json.loads(block.text)
            except ValueError as error:
                problems.append(f"{block}: not valid JSON: {error}")
        if plan in ("run-bash", "run-python", "file"):
            unknown = sorted(set(PLACEHOLDER.findall(block.text)) - set(PLACEHOLDERS))
            if unknown:
                problems.append(f"{block}: placeholders {unknown} have no value in PLACEHOLDERS")
    if [b.kind for b in blocks].count("server") != 1:
        problems.append("the README needs exactly one `<!-- docs-test: server -->` block (`make ui`)")
    first_lines = {b.first_line for b in blocks}
    problems += [
        f"NOT_RUN entry {key!r} matches no README block (stale)" for key in NOT_RUN if key not in first_lines
    ]
    for key, entry in NOT_RUN.items():
        if not entry.why:
            problems.append(f"NOT_RUN entry {key!r} says nothing about why")
        problems += [
            f"NOT_RUN entry {key!r}: {node} does not exist"
            for node in entry.covered_by
            if not _test_exists(node)
        ]
    assert not problems, "\n".join(problems)


def test_the_block_parser_reads_fences_sections_and_directives():
    text = "\n".join(
        [
            "## One",
            "<!-- docs-test: continues dags/x.py -->",
            "```python",
            "print(1)",
            "```",
            "- item",
            "  ```json",
            '  {"a": 1}',
            "  ```",
            "## Two",
            "```",
            "plain",
            "```",
        ]
    )
    one, two, three = readme_blocks(text)
    assert (one.line, one.lang, one.section, one.directive) == (
        3,
        "python",
        "One",
        ("continues", "dags/x.py"),
    )
    assert (two.text, two.directive) == ('{"a": 1}\n', ())
    assert (three.lang, three.section, planned(three)) == ("", "Two", "unplanned")


def _used_later(saved: Block, blocks: list[Block]) -> bool:
    later = blocks[blocks.index(saved) + 1 :]
    return any(b.section == saved.section and saved.directive[1] in b.text for b in later)


def _test_exists(node: str) -> bool:
    path, _, name = node.partition("::")
    file = REPO / path
    return (
        bool(name)
        and file.is_file()
        and re.search(rf"^(async )?def {re.escape(name)}\(", file.read_text(), re.M) is not None
    )


# ---------------------------------------------------------------------- running the README


@dataclass
class Context:
    """What the blocks run against: make ui in its checkout, and each section's terminal state."""

    ui: LocalUI
    scratch: Path
    terminals: dict[str, Path] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.ui.checkout.root

    def make(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.ui.checkout.make(*args)


def _a_reuse_key(context: Context) -> str:
    listed = context.make("reuse", "ARGS=list --json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert entries, "make demo left no reuse entry for <key>"
    return entries[0]["key"]


#: Values of the README's `<name>` placeholders: what the reader is told to fill in, for this setup.
PLACEHOLDERS: dict[str, Callable[[Context], str]] = {
    "<key>": _a_reuse_key,  # "a key from `list`"
    "<account key>": lambda context: "bm90LWEtcmVhbC1rZXk=",  # the block only exports the connection
}


def fill(block: Block, context: Context) -> str:
    text = block.text.replace(README_URL, context.ui.url)
    for placeholder in sorted(set(PLACEHOLDER.findall(text))):
        text = text.replace(placeholder, PLACEHOLDERS[placeholder](context))
    return text


def terminal(context: Context, section: str) -> Path:
    """The state folder of a section's terminal: its variables (`vars.sh`) and environment (`env`)."""
    if section not in context.terminals:
        folder = context.scratch / f"terminal-{len(context.terminals)}"
        folder.mkdir()
        (folder / "vars.sh").write_text("")
        env = context.ui.checkout.env
        (folder / "env").write_bytes(b"".join(f"{k}={v}\0".encode() for k, v in env.items()))
        baseline = subprocess.run(
            ["bash", "-c", "compgen -v"], env=env, capture_output=True, text=True, check=True
        ).stdout
        (folder / "baseline").write_text(baseline)
        context.terminals[section] = folder
    return context.terminals[section]


def terminal_env(state: Path) -> dict[str, str]:
    pairs = (
        item.split("=", 1) for item in state.joinpath("env").read_bytes().decode().split("\0") if "=" in item
    )
    return dict(pairs)


def run_bash(block: Block, context: Context) -> None:
    state = terminal(context, block.section)
    script = context.scratch / f"block-{block.line}.sh"
    script.write_text(fill(block, context))
    wrapper = (
        "set -euo pipefail\n"
        f"source {shlex.quote(str(state / 'vars.sh'))}\n"
        f"source {shlex.quote(str(script))}\n"
        # What the block set, for the section's later blocks (bash's own variables left out).
        f"names=$(compgen -v | grep -vxF -f {shlex.quote(str(state / 'baseline'))} | {BASH_OWN}) || true\n"
        f'if [ -n "$names" ]; then declare -p $names; fi > {shlex.quote(str(state / "vars.new"))}\n'
        f"env -0 > {shlex.quote(str(state / 'env'))}\n"
    )
    result = subprocess.run(
        ["bash", "-c", wrapper],
        cwd=context.root,
        env=terminal_env(state),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{block} exited {result.returncode}:\n{_output(result)}"
    state.joinpath("vars.new").replace(state / "vars.sh")


def python_file(block: Block, context: Context) -> Path:
    """The block as a script beside links to dags/'s entries; after the file it `continues`, if any."""
    folder = context.scratch / "python"
    if not folder.exists():
        folder.mkdir()
        for entry in (context.root / "dags").iterdir():
            (folder / entry.name).symlink_to(entry)
    code = fill(block, context)
    if block.kind == "continues":
        code = (context.root / block.directive[1]).read_text() + "\n\n# ---- the README block\n" + code
    script = folder / f"readme_block_{block.line}.py"
    script.write_text(code)
    return script


def run_python(block: Block, context: Context) -> None:
    script = python_file(block, context)
    result = subprocess.run(
        [*MAKE, "python", f"ARGS={shlex.quote(str(script))}"],
        cwd=context.root,
        env=terminal_env(terminal(context, block.section)),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"{block} exited {result.returncode}:\n{_output(result)}"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout (end):\n{result.stdout[-4000:]}\n--- stderr (end):\n{result.stderr[-4000:]}"


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_the_readme_runs_against_make_ui(local_ui: LocalUI, tmp_path: Path):
    context = Context(local_ui, tmp_path)
    ran: list[str] = []
    for block in readme_blocks((context.root / "README.md").read_text()):  # the checkout's copy
        plan = planned(block)
        if plan == "not-run":
            entry = NOT_RUN[block.first_line]
            if entry.compile_python:
                compile(block.text, str(block), "exec")
            continue
        if plan == "compile":
            compile(block.text, str(block), "exec")
        elif plan == "server":  # the fast test checked the block is `make ui`; the fixture runs it
            assert local_ui.command[len(MAKE)] == "ui" and local_ui.unhealthy() == [], (
                f"{block}: make ui is not up"
            )
        elif plan == "file":
            target = context.root / block.directive[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(fill(block, context))
        elif plan == "parse-json":
            json.loads(block.text)
        elif plan == "run-bash":
            run_bash(block, context)
        elif plan == "run-python":
            run_python(block, context)
        ran.append(f"{plan}: {block}")
    assert not (local_ui.checkout.user_home / "airflow").exists(), "a README command wrote to ~/airflow"
    assert any(r.startswith("run-bash") for r in ran) and any(r.startswith("run-python") for r in ran), ran

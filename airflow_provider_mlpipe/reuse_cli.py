"""`python -m airflow_provider_mlpipe reuse list|show|clear`: inspect and prune the reuse index.

The index is the one `ReuseCacheHook` keeps on a datastore (`mlpipe/_reuse/...`). User mistakes
(unknown datastore, bad age, unknown or ambiguous key) print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from airflow_provider_mlpipe.hooks.datastore import DatastoreClient, DatastoreError
from airflow_provider_mlpipe.hooks.resolve import resolve_datastore
from airflow_provider_mlpipe.hooks.reuse_cache import ReuseCacheHook, record_problem, reuse_datastore_name

Entry = dict[str, Any]
MIN_PREFIX = 6
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class UsageError(Exception):
    """A mistake in what the user asked for: reported on stderr, exit code 2."""


# ---------------------------------------------------------------------- helpers


def parse_age(text: str) -> datetime.timedelta:
    """`30d`, `12h`, `45m`, `2w` as a timedelta."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"bad age {text!r}: use a number and m, h, d or w (e.g. 30d, 12h)")
    return datetime.timedelta(**{AGE_UNITS[match.group(2)]: int(match.group(1))})


def created_at(entry: Entry) -> datetime.datetime | None:
    """The entry's creation time (UTC), or None when it is missing or unreadable."""
    try:
        when = datetime.datetime.fromisoformat(entry["created_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def newest_first(entries: Iterable[Entry]) -> list[Entry]:
    oldest = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return sorted(entries, key=lambda e: created_at(e) or oldest, reverse=True)


def describe(entry: Entry) -> str:
    """`created_at  key[:16]  dag/run/task  outputs` on one line."""
    when = created_at(entry)
    shown = when.strftime("%Y-%m-%d %H:%M:%SZ") if when else "????-??-?? ??:??:??"
    source = entry.get("source") or {}
    where = "/".join(str(source.get(k, "?")) for k in ("dag_id", "run_id", "task_id"))
    outputs = ", ".join(sorted(entry.get("outputs") or {})) or "-"
    return f"{shown}  {str(entry.get('key', '?'))[:16]}  {where}  {outputs}"


def find_entry(entries: list[Entry], prefix: str) -> Entry:
    """The one entry whose key starts with `prefix` (>= 6 characters)."""
    prefix = prefix.strip().lower()
    if len(prefix) < MIN_PREFIX:
        raise UsageError(f"key {prefix!r} is too short: give at least {MIN_PREFIX} characters")
    matches = [e for e in entries if str(e.get("key", "")).startswith(prefix)]
    if not matches:
        raise UsageError(f"no reuse entry has a key starting with {prefix!r}")
    if len(matches) > 1:
        keys = ", ".join(str(e["key"])[:16] for e in matches)
        raise UsageError(f"key prefix {prefix!r} is ambiguous: it matches {len(matches)} entries ({keys})")
    return matches[0]


def output_locations(entry: Entry) -> list[tuple[str, Any, Any, str | None]]:
    """(output name, datastore, path, problem) of every output an entry records; `problem` says why
    the record is unusable (see `record_problem`), None for a sound one."""
    found = []
    for name, record in sorted((entry.get("outputs") or {}).items()):
        fields = record if isinstance(record, dict) else {}
        found.append((name, fields.get("datastore"), fields.get("path_on_datastore"), record_problem(record)))
    return found


def overlaps(a: str, b: str) -> bool:
    """True when one datastore path is the other or lies below it."""
    return a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/")


class Datastores:
    """Clients of the datastores outputs live on, resolved once each."""

    def __init__(self, index: DatastoreClient) -> None:
        self._clients: dict[str | None, DatastoreClient] = {index.name: index}

    def get(self, name: str | None) -> DatastoreClient:
        if name not in self._clients:
            self._clients[name] = resolve_datastore(name)
        return self._clients[name]


# ---------------------------------------------------------------------- commands


def cmd_list(hook: ReuseCacheHook, args: argparse.Namespace) -> int:
    """One line per entry, newest first (or the full entries as JSON)."""
    entries = [e for e in hook.list_entries() if source_matches(e, args.dag, args.task)]
    entries = newest_first(entries)
    if args.json:
        print(json.dumps(entries, indent=2, sort_keys=True))
        return 0
    if not entries:
        print(f"no reuse entries on datastore {hook.client.name!r}", file=sys.stderr)
    for entry in entries:
        print(describe(entry))
    return 0


def cmd_show(hook: ReuseCacheHook, args: argparse.Namespace) -> int:
    """The entry as JSON, then whether each recorded output is still on its datastore."""
    key = args.key.strip().lower()
    try:
        entry = hook.get_entry(key) if len(key) == 64 else None
    except ValueError as error:  # only a full key reaches an unreadable entry: listings skip them
        print(f"error: {error}; the next run of its step replaces it", file=sys.stderr)
        return 1
    entry = entry or find_entry(list(hook.list_entries()), key)
    print(json.dumps(entry, indent=2, sort_keys=True))
    print(f"\nentry file: {hook.client.uri(hook.entry_path(entry['key']))}")
    print("outputs:")
    stores = Datastores(hook.client)
    for name, datastore, path, problem in output_locations(entry):
        if problem is not None:
            print(f"  {name}: INVALID  {problem}")
            continue
        try:
            client = stores.get(datastore)
            state = "present" if client.exists(path) else "MISSING"
            where = client.uri(path)
        except DatastoreError as error:
            state, where = "UNKNOWN", str(error)
        print(f"  {name}: {state}  {where}")
    return 0


def cmd_clear(hook: ReuseCacheHook, args: argparse.Namespace) -> int:
    """Delete the selected entries and, with --delete-outputs, the outputs no other entry uses."""
    if args.all and not (args.yes or args.dry_run):
        raise UsageError("--all removes every entry: add --yes to confirm (or --dry-run to preview)")
    entries = list(hook.list_entries())
    selected = newest_first(select(entries, args))
    chosen = {e["key"] for e in selected}
    verb = "would remove" if args.dry_run else "removed"

    for entry in selected:
        if not args.dry_run:
            hook.delete_entry(entry["key"])  # first, so the index never points at half-deleted data
        print(f"{verb} entry  {describe(entry)}")
    deleted = failed = 0
    if args.delete_outputs:
        remaining = [e for e in entries if e["key"] not in chosen]
        deleted, failed = delete_outputs(hook, selected, remaining, args.dry_run)

    summary = f"{verb} {len(selected)} entr{'y' if len(selected) == 1 else 'ies'}"
    if args.delete_outputs:
        summary += f" and {deleted} output(s)"
    print(f"{summary[0].upper()}{summary[1:]} on datastore {hook.client.name!r}.")
    return 1 if failed else 0


def delete_outputs(
    hook: ReuseCacheHook, removed: list[Entry], remaining: list[Entry], dry_run: bool
) -> tuple[int, int]:
    """Delete the outputs of `removed` that no entry of `remaining` records; (deleted, failed)."""
    verb = "would remove" if dry_run else "removed"
    stores = Datastores(hook.client)
    in_use = [
        (d, p, e["key"]) for e in remaining for _, d, p, problem in output_locations(e) if problem is None
    ]
    done: set[tuple[str | None, str]] = set()
    deleted = failed = 0
    for entry in removed:
        for _, datastore, path, problem in output_locations(entry):
            if problem is not None:  # never delete by a path that did not come from a run
                print(f"skipped output {datastore}:{path} ({problem})")
                continue
            if not path or (datastore, path) in done:
                continue
            done.add((datastore, path))
            user = next((k for d, p, k in in_use if d == datastore and overlaps(p, path)), None)
            if user is not None:
                print(f"kept output    {datastore}:{path} (still recorded by entry {user[:16]})")
                continue
            try:
                if not dry_run:
                    stores.get(datastore).delete(path)
                deleted += 1
                print(f"{verb} output  {datastore}:{path}")
            except DatastoreError as error:
                failed += 1
                print(f"error: could not delete output {datastore}:{path}: {error}", file=sys.stderr)
    return deleted, failed


def source_matches(entry: Entry, dag: str | None, task: str | None = None) -> bool:
    source = entry.get("source") or {}
    return (dag is None or source.get("dag_id") == dag) and (task is None or source.get("task_id") == task)


def select(entries: list[Entry], args: argparse.Namespace) -> list[Entry]:
    """The entries `clear` acts on: by age, by key or all; then by DAG."""
    if args.key:
        candidates = [find_entry(entries, args.key)]
    elif args.older_than is not None:
        cutoff = datetime.datetime.now(datetime.timezone.utc) - args.older_than
        candidates = [e for e in entries if (when := created_at(e)) is not None and when < cutoff]
    else:
        candidates = entries
    return [e for e in candidates if source_matches(e, args.dag)]


# ---------------------------------------------------------------------- entry point


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Keep stdout for results: Airflow's log handler moves to stderr, Azure's request logs are muted."""
    root, azure = logging.getLogger(), logging.getLogger("azure")
    moved = [
        (h, h.stream)
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.__stdout__)
    ]
    azure_level = azure.level
    azure.setLevel(max(azure_level, logging.WARNING))
    for handler, _ in moved:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        azure.setLevel(azure_level)
        for handler, stream in moved:
            handler.setStream(stream)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--datastore",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="datastore (connection id) holding the index; default: [mlpipe] reuse_datastore, "
        "else the default datastore",
    )
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_mlpipe", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reuse = commands.add_parser("reuse", parents=[common], help="inspect and prune the reuse index")
    actions = reuse.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", parents=[common], help="list entries, newest first")
    listing.add_argument("--dag", metavar="DAG_ID", help="only entries recorded by this DAG")
    listing.add_argument("--task", metavar="TASK_ID", help="only entries recorded by this task")
    listing.add_argument("--json", action="store_true", help="print the full entries as a JSON list")
    listing.set_defaults(handler=cmd_list)

    show = actions.add_parser("show", parents=[common], help="show one entry and its outputs")
    show.add_argument("key", metavar="KEY", help=f"full key or a unique prefix (>= {MIN_PREFIX} chars)")
    show.set_defaults(handler=cmd_show)

    clear = actions.add_parser("clear", parents=[common], help="delete entries (and their outputs)")
    which = clear.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", metavar="AGE", type=parse_age, help="e.g. 30d, 12h, 45m, 2w")
    which.add_argument("--key", metavar="KEY", help="one entry: full key or a unique prefix")
    which.add_argument("--all", action="store_true", help="every entry (needs --yes)")
    clear.add_argument("--dag", metavar="DAG_ID", help="only entries recorded by this DAG")
    clear.add_argument("--dry-run", action="store_true", help="print what would be removed")
    clear.add_argument(
        "--delete-outputs", action="store_true", help="also delete outputs no remaining entry records"
    )
    clear.add_argument("--yes", action="store_true", help="confirm --all")
    clear.set_defaults(handler=cmd_clear)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (2 for usage errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the problem (or --help)
        return exit_.code if isinstance(exit_.code, int) else 2
    with logs_to_stderr():
        return run(args)


def run(args: argparse.Namespace) -> int:
    """Open the index on the chosen datastore and run the command on it."""
    handler: Callable[[ReuseCacheHook, argparse.Namespace], int] = args.handler
    name = getattr(args, "datastore", None) or reuse_datastore_name(None)
    hook = ReuseCacheHook(name)
    try:
        hook.client  # noqa: B018 - resolve now: an unknown datastore is a usage error
    except DatastoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return handler(hook, args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DatastoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

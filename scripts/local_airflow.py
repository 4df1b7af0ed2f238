"""Run a command against the repository's local Airflow: the home of `make ui`, `make demo` and friends.

`python scripts/local_airflow.py [--port N] COMMAND [ARG...]` runs COMMAND with AIRFLOW_HOME=.airflow,
this repository's dags/ as the DAGs folder, no example DAGs, and this virtualenv's bin/ first on
PATH: `airflow standalone` starts its components as `airflow` from PATH, and `python`/`airflow`
in COMMAND must be this virtualenv's, not whatever the shell finds first. `--port` sets the API
server's port and the execution API URL the tasks call back to (a task of a run would get
"connection refused" if only the port changed). The Makefile's `ui`, `airflow`, `reuse`, `python`,
`data` and `demo` targets go through here, so they all read and write the same home.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The Airflow home every `make` target uses (SQLite DB, logs, the embedded datastore, the login).
HOME = REPO / ".airflow"
DAGS_FOLDER = REPO / "dags"
DEFAULT_PORT = 8080
#: Where `airflow standalone` (SimpleAuthManager) writes the generated password of the user `admin`.
PASSWORDS_FILE = HOME / "simple_auth_manager_passwords.json.generated"


def virtualenv_bin() -> Path:
    """The bin/ folder of the interpreter running this script (the repository's .venv under make)."""
    return Path(sys.executable).parent


def environment(base: Mapping[str, str] | None = None, port: int | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the local Airflow's settings forced.

    Forced, not defaulted: an AIRFLOW_HOME exported for another deployment must not make
    `make ui` read that deployment's database.
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join(p for p in (str(virtualenv_bin()), env.get("PATH", "")) if p)
    env.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    if port is not None:
        env["AIRFLOW__API__PORT"] = str(port)
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://localhost:{port}/execution/"
    return env


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help=f"API server port (`make ui`; default {DEFAULT_PORT})")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("give a command, e.g. `airflow dags list`")
    if args.port is not None and not 0 < args.port < 65536:
        parser.error(f"--port {args.port}: not a TCP port (1-65535)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = environment(port=args.port)
    HOME.mkdir(exist_ok=True)
    # exec, not a child: signals (Ctrl-C on `make ui`) reach the command itself.
    try:
        os.execvpe(args.command[0], args.command, env)
    except FileNotFoundError:
        print(f"local_airflow: command not found: {args.command[0]}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())

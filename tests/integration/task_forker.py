"""Start `airflow tasks test DAG TASK` again and again, each in a process forked from this warm one.

As a worker does (Airflow's supervisor forks each task runner), and so a test can SIGKILL many
real tasks without paying Airflow's import time for each: the CLI's own `main()` runs in the
forked child, exactly as `airflow tasks test` would. Protocol on stdin/stdout: "ready" once warm;
then each line read starts one task and answers its pid, and "ended <wait status>" when it ended.
Usage: `python -m tests.integration.task_forker DAG_ID TASK_ID LOG_FILE`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from airflow.__main__ import main
from airflow.cli import cli_parser
from airflow.cli.commands import task_command  # noqa: F401 - imported before the forks, as a worker has it

import airflow_provider_mlpipe.operators.python_script  # noqa: F401


async def _warm_execution_api(app: Any) -> None:
    """Build the in-process execution API's versioned routes (seconds of work, done lazily by its
    first request) on a loop that ends here: each child starts its own loop thread on a ready app."""
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://warm-up") as client:
        await client.get("/health")


def serve(dag_id: str, task_id: str, log_file: str) -> None:
    from airflow.sdk.execution_time import supervisor

    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # Airflow's log lines go to stderr; stdout carries only the answers
    cli_parser.get_parser()
    asyncio.run(_warm_execution_api(supervisor.in_process_api_server().app))
    print("ready", file=answers, flush=True)
    for _request in sys.stdin:
        pid = os.fork()
        if pid == 0:
            log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            sys.argv = ["airflow", "tasks", "test", dag_id, task_id]
            try:
                main()
            finally:
                os._exit(0)
        print(pid, file=answers, flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"ended {status}", file=answers, flush=True)


if __name__ == "__main__":
    serve(*sys.argv[1:])

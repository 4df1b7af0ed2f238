"""Run a step's script as a child process: live log lines, a tail of stderr, a clean kill.

The script runs under a small guardian (`runtime/guard.py`) that stops its whole process
tree and removes the attempt's working folder when the task process dies without a chance
to do it itself (SIGKILL, the OOM killer, a worker crash).
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_mlpipe.runtime.guard import signal_each

STDERR_TAIL_LINES = 40
KILL_GRACE_SECONDS = 5.0
#: How much longer than the grace period `kill` waits for the guardian, which escalates to SIGKILL
#: itself after the grace period: only a guardian that cannot finish is SIGKILLed by the task.
GUARDIAN_MARGIN_SECONDS = 5.0
GUARD_SCRIPT = Path(__file__).with_name("guard.py")


class ScriptProcess:
    """One run of a script in its own process group, so a kill reaches everything it started.

    `workdir`, the attempt's working folder, is removed by the guardian if the task dies.
    """

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str],
        log: logging.Logger,
        workdir: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = env
        self.log = log
        self.workdir = workdir
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._process: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        """Start, stream stdout and stderr into the log line by line, wait; returns the exit code.

        Only this process holds the write end of the guardian's "alive" pipe (non-inheritable),
        so it closes when this process dies, or when run() is left by an exception.
        """
        alive_read, alive_write = os.pipe()
        try:
            try:
                self._process = subprocess.Popen(
                    self.guarded_argv(alive_read),
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    pass_fds=(alive_read,),
                )
            finally:
                os.close(alive_read)
            return self._stream_and_wait(self._process)
        finally:
            os.close(alive_write)

    def guarded_argv(self, alive_fd: int) -> list[str]:
        """The guardian's command line around the script's (isolated, no site: a cheap start)."""
        workdir = str(self.workdir) if self.workdir else ""
        return [
            sys.executable,
            "-I",
            "-S",
            str(GUARD_SCRIPT),
            str(alive_fd),
            workdir,
            str(KILL_GRACE_SECONDS),
            "--",
        ] + self.argv

    def _stream_and_wait(self, process: subprocess.Popen[bytes]) -> int:
        readers = [
            threading.Thread(target=self._pump, args=(process.stdout, False), daemon=True),
            threading.Thread(target=self._pump, args=(process.stderr, True), daemon=True),
        ]
        for reader in readers:
            reader.start()
        code = process.wait()
        for reader in readers:
            reader.join()
        return code

    def _pump(self, stream, is_stderr: bool) -> None:  # noqa: ANN001 - a binary pipe
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if is_stderr:
                self.stderr_tail.append(line)
                self.log.info("[stderr] %s", line)
            else:
                self.log.info("%s", line)
        stream.close()

    def kill(self) -> None:
        """SIGTERM the whole process tree; the guardian SIGKILLs what is left after the grace period
        and exits with the script's status. Whatever still lives after the margin is SIGKILLed here."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        members = _process_tree(process.pid)
        _signal_group(process.pid, signal.SIGTERM)
        signal_each(members, signal.SIGTERM)
        _wait_until_ended(process.pid, KILL_GRACE_SECONDS + GUARDIAN_MARGIN_SECONDS)
        _signal_group(process.pid, signal.SIGKILL)
        signal_each(members, signal.SIGKILL)


def _wait_until_ended(pid: int, timeout: float) -> None:
    """Wait until `pid` has exited (a zombie counts), at most `timeout` seconds.

    Not `Popen.wait(timeout)`: kill() is often called from a signal handler (Airflow's on_kill)
    that interrupted run()'s own `wait()`, which holds Popen's lock, so a nested wait could never
    reap the child and would always sleep the whole timeout. run()'s wait reaps it afterwards.
    """
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)


def _process_tree(pid: int) -> list[int]:
    """The process and all its descendants now (some may have left its process group)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [pid] + [child.pid for child in root.children(recursive=True)]
    except psutil.Error:
        return [pid]


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass

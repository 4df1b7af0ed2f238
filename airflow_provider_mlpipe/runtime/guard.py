"""The guardian of a step's script: the script's whole process tree dies with its task.

`ScriptProcess` starts `python -I -S guard.py ALIVE_FD WORKDIR GRACE -- <script argv>` instead
of the script itself. The guardian is a child subreaper (processes that double-fork or leave
the process group stay in its tree) and holds the read end of a pipe whose write end only
the task process holds: EOF on it means the task died (SIGKILL, OOM killer, worker crash).
It then stops the tree (SIGTERM, GRACE seconds, SIGKILL) and removes the attempt's working
folder. A pipe rather than a parent-death signal: PR_SET_PDEATHSIG fires when the *thread*
that started the child exits, and a step may be started from any thread.

It also stops whatever the script left running when the script ends, and on SIGTERM, SIGINT
or SIGHUP (the task's own kill path) stops the tree. It exits with the script's status (the
same signal when the script was killed), so exit codes look as if the script ran directly.
Standard library only, run with `-I -S`, and no subprocess/shutil (their imports would double
its start time): it precedes every step.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: The guardian's exit code when the script cannot be started at all (as a shell's).
CANNOT_START = 127
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _prctl(option: int, value: int) -> None:
    """Linux prctl(2); a failure (another OS) leaves only the pipe watch and the group kill."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def start(command: list[str]) -> int:
    """Fork and exec `command` (inheriting cwd, environment and fds 0-2); returns its pid.

    In the child, before exec: SIGKILL it if the guardian itself dies (PR_SET_PDEATHSIG is safe
    here: the guardian is single-threaded, so the forking thread lives as long as it does), and
    restore the signal dispositions Python changed. An exec failure comes back as an OSError.
    """
    report_read, report_write = os.pipe()  # close-on-exec: EOF without data means exec worked
    guardian = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report_read)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != guardian:
                os._exit(CANNOT_START)
            signal.set_wakeup_fd(-1)
            for sig in (*_STOP_SIGNALS, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            os.execvp(command[0], command)
        except BaseException as error:  # noqa: BLE001 - reported to the guardian, then exit
            os.write(report_write, f"{type(error).__name__}: {error}".encode())
        finally:
            os._exit(CANNOT_START)
    os.close(report_write)
    with open(report_read, "rb") as report:
        failure = report.read()
    if failure:
        os.waitpid(pid, 0)
        raise OSError(failure.decode(errors="replace"))
    return pid


def descendants(root: int) -> list[int]:
    """Living (non-zombie) processes below `root` now, from /proc, parents before children."""
    children: dict[int, list[tuple[int, bytes]]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append((int(name), fields[0]))
    found: list[int] = []
    queue = [root]
    while queue:
        for pid, state in children.get(queue.pop(), []):
            if state != b"Z":
                found.append(pid)
            queue.append(pid)
    return found


class Guardian:
    """Starts the script, waits for it, the task's death or a stop signal, and cleans up."""

    def __init__(self, alive_fd: int, workdir: str, grace: float, command: list[str]) -> None:
        self.alive_fd = alive_fd
        self.workdir = workdir
        self.grace = grace
        self.command = command
        self.script_pid = 0
        self.script_status: int | None = None
        self.stop_signal: int | None = None

    def run(self) -> int:
        """The script's raw wait status, or -1 when the task died (nobody is waiting for it)."""
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        os.set_inheritable(self.alive_fd, False)  # the script must not hold the task's pipe
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self._on_stop)
        try:
            self.script_pid = start(self.command)
        except OSError as error:
            _say(f"mlpipe: cannot start {self.command[0]}: {error}")
            return CANNOT_START << 8
        while True:
            self._reap()
            if self.script_status is not None:
                self.stop_tree()  # whatever the script left running
                if self._task_gone(0):  # it died while the script ended or was being stopped
                    self._remove_workdir()
                return self.script_status
            if self.stop_signal is not None:
                self.stop_tree()
                continue
            ready, _, _ = select.select([self.alive_fd, wake_read], [], [])
            if wake_read in ready:
                os.read(wake_read, 512)
            if self.alive_fd in ready and self._task_gone(0):
                self.stop_tree()
                self._remove_workdir()
                return -1

    def _task_gone(self, timeout: float) -> bool:
        """True when the task's end of the alive pipe is closed (EOF); nobody ever writes to it."""
        ready, _, _ = select.select([self.alive_fd], [], [], timeout)
        return bool(ready) and not os.read(self.alive_fd, 512)

    def _remove_workdir(self) -> None:
        if self.workdir:
            remove_folder(self.workdir)

    def _on_stop(self, signum: int, _frame: object) -> None:
        self.stop_signal = signum

    def _reap(self) -> bool:
        """Collect every exited child (re-parented orphans too), note the script's status; returns
        whether any child is still alive (as a subreaper, every descendant hangs below one)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if pid == self.script_pid:
                self.script_status = status

    def stop_tree(self) -> None:
        """SIGTERM every descendant, wait up to the grace period, then SIGKILL until none is left."""
        if not self._reap():
            return
        signal_each(self._tree(), signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while self._reap() and time.monotonic() < deadline:
            time.sleep(0.05)
        deadline = time.monotonic() + self.grace
        while self._reap():
            left = self._tree()
            if time.monotonic() > deadline:  # e.g. another user's process: say so rather than hang
                _say(f"mlpipe: could not stop process(es) {' '.join(map(str, left))} of the step")
                return
            signal_each(left, signal.SIGKILL)
            time.sleep(0.02)

    def _tree(self) -> list[int]:
        """The descendants to signal: from /proc, else (no /proc, another OS) the script alone."""
        try:
            return descendants(os.getpid())
        except OSError:
            return [self.script_pid] if self.script_status is None else []


def remove_folder(folder: str | os.PathLike[str]) -> None:
    """Remove an attempt's working folder, its top-level dot files (the attempt's lock) last: a
    removal cut short (the remover killed too) leaves the lock file for the next sweep to finish."""
    import shutil

    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name.startswith("."))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _say(message: str) -> None:
    """One line on stderr (the task log), unless nobody reads it any more."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


def signal_each(pids: list[int], sig: int) -> None:
    """Send `sig` to each of `pids`; one that is gone or not ours is skipped."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _exit_like(status: int) -> None:
    """Exit with the script's wait status: the same code, or death by the same signal."""
    if status < 0:
        os._exit(0)
    if os.WIFSIGNALED(status):
        import resource

        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the script's crash, not a core of ours
        signal.set_wakeup_fd(-1)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> None:
    """`guard.py ALIVE_FD WORKDIR GRACE -- COMMAND...` (WORKDIR may be empty)."""
    alive_fd, workdir, grace, separator, *command = argv
    if separator != "--" or not command:
        print("usage: guard.py ALIVE_FD WORKDIR GRACE -- COMMAND...", file=sys.stderr)
        os._exit(2)
    _exit_like(Guardian(int(alive_fd), workdir, float(grace), command).run())


if __name__ == "__main__":
    main(sys.argv[1:])

"""A small console progress bar for the notebook methods of a Datastore (`show_progress=True`).

On a terminal (or a notebook's output) one line is redrawn in place, at most `REDRAW_SECONDS`
apart; elsewhere (a log file, a pipe) a line is written at most every `LOG_SECONDS`, and always
at the end, so logs stay short.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1
LOG_SECONDS = 5.0
_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(count: float) -> str:
    """`count` bytes as `512 B`, `1.5 MB`... (powers of 1024)."""
    for unit in _UNITS:
        if count < 1024 or unit == _UNITS[-1]:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _in_place(stream: TextIO) -> bool:
    """True where a carriage return redraws the line: a terminal, or a Jupyter kernel's output."""
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return True
    return "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel")


class Progress:
    """Files (and bytes) done out of a total, shown while work goes on; thread-safe.

    `total_bytes` None: the byte count is shown without a total. `enabled=False` shows nothing.
    """

    def __init__(
        self,
        action: str,
        total_files: int,
        total_bytes: int | None = None,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.action = action
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.enabled = enabled
        self.files = 0
        self.bytes = 0
        self.skipped = 0
        self._stream = stream
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._shown_at = self._started
        self._width = 0

    @property
    def stream(self) -> TextIO:
        # Looked up when used: tests and notebooks replace sys.stdout.
        return self._stream if self._stream is not None else sys.stdout

    def __enter__(self) -> Progress:
        if self.enabled:
            with self._lock:
                self._show(final=False, force=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            with self._lock:
                self._show(final=True, force=True)

    def advance(self, files: int = 1, size: int = 0) -> None:
        """One more file done (`size` bytes moved)."""
        with self._lock:
            self.files += files
            self.bytes += size
            if self.enabled:
                self._show(final=False, force=False)

    def skip(self, files: int = 1) -> None:
        """A file left alone (it existed and overwrite was False): counted done, none moved."""
        with self._lock:
            self.files += files
            self.skipped += files
            if self.enabled:
                self._show(final=False, force=False)

    def line(self) -> str:
        """The progress line as it stands."""
        total = max(self.total_files, 1)
        done = min(self.files, total) if self.total_files else total
        filled = round(BAR_WIDTH * done / total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        moved = human_bytes(self.bytes)
        if self.total_bytes is not None:
            moved += f"/{human_bytes(self.total_bytes)}"
        elapsed = max(time.monotonic() - self._started, 1e-6)
        text = (
            f"{self.action} [{bar}] {self.files}/{self.total_files} files, {moved}, "
            f"{human_bytes(self.bytes / elapsed)}/s"
        )
        if self.skipped:
            text += f", {self.skipped} skipped (exist; overwrite=False)"
        return text

    def _show(self, final: bool, force: bool) -> None:
        now = time.monotonic()
        in_place = _in_place(self.stream)
        if not final:
            if not in_place and (force or now - self._shown_at < LOG_SECONDS):
                return  # a log gets a line every LOG_SECONDS and one at the end, none at the start
            if in_place and not force and now - self._shown_at < REDRAW_SECONDS:
                return
        self._shown_at = now
        text = self.line()
        if in_place:
            padding = " " * max(self._width - len(text), 0)
            self._width = len(text)
            self.stream.write(f"\r{text}{padding}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

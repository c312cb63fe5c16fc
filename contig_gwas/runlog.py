"""Run logs: every tool writes ``<out>.log`` beside its output.

The log holds the package version, the full command, the start time, every message the tool
reports (sample and variant counts at each filter, warnings), the time each step took, and a
traceback if the run failed. Messages also go to standard error so the user sees them live.

Usage::

    with RunLog(log_path, tool="contig-gwas", argv=argv) as log:
        with log.step("read phenotypes"):
            ...
        log.info("kept 1,980 of 2,000 individuals")
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Iterator, Literal, Sequence, TextIO

from . import __version__


class RunLog:
    """A run log written line by line to ``path`` (and echoed to stderr)."""

    def __init__(self, path: str | os.PathLike, *, tool: str, argv: Sequence[str] | None,
                 echo: bool = True) -> None:
        self.path = Path(path)
        self.tool = tool
        self.argv = list(argv) if argv is not None else list(sys.argv[1:])
        self.echo = echo
        self._fh: TextIO | None = None
        self._t0 = time.perf_counter()
        self.warnings: list[str] = []

    def __enter__(self) -> "RunLog":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", encoding="utf-8")
        self._write(f"{self.tool} {__version__}")
        self._write("command: " + " ".join([self.tool, *map(_quote, self.argv)]))
        self._write(f"started: {time.strftime('%Y-%m-%d %H:%M:%S')}  host: {platform.node()}  "
                    f"python: {platform.python_version()}")
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        elapsed = time.perf_counter() - self._t0
        if exc is not None:
            self._write(f"FAILED after {elapsed:.1f}s: {type(exc).__name__}: {exc}", echo=False)
            self._write("".join(traceback.format_exception(exc_type, exc, tb)).rstrip(), echo=False)
        else:
            self._write(f"finished in {elapsed:.1f}s")
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return False

    def _write(self, line: str, *, echo: bool | None = None) -> None:
        if self._fh is not None:
            self._fh.write(line + "\n")
            self._fh.flush()
        if self.echo if echo is None else echo:
            print(line, file=sys.stderr, flush=True)

    def info(self, message: str) -> None:
        """Record one message."""
        self._write(message)

    def warning(self, message: str) -> None:
        """Record a warning (kept in ``self.warnings`` too)."""
        self.warnings.append(message)
        self._write("WARNING: " + message)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step; the duration is logged when it ends."""
        t = time.perf_counter()
        yield
        self._write(f"[{time.perf_counter() - t:8.2f}s] {name}")


class NullLog(RunLog):
    """A RunLog that writes nowhere (for library calls without a log)."""

    def __init__(self) -> None:
        super().__init__(os.devnull, tool="", argv=[], echo=False)

    def _write(self, line: str, *, echo: bool | None = None) -> None:
        pass


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_./=:,+@" for c in arg) else repr(arg)

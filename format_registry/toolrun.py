"""The one way Kho runs an external tool: an argument list, a timeout, its own process group, bounded output.

Kho runs many programs it did not write (JHOVE, veraPDF, ffprobe/ffmpeg, LibreOffice, Ghostscript,
ClamAV) on files it did not write either. Each run here:

- takes an argument list, never a shell command line (a file name is never interpreted);
- has a mandatory timeout, after which the tool's **whole process group** is killed: ``jhove`` is a
  shell script that starts java, ``soffice`` forks ``soffice.bin``, ffmpeg may spawn helpers, and
  killing only the direct child would leave those running. Every tool therefore starts in a new
  session (its own process group), and a timeout, or an exception in the caller, kills the group;
- reads stdin from ``/dev/null`` and keeps at most ``max_stdout`` bytes of stdout (the start: reports
  are parsed from there) and ``max_stderr`` of stderr (the end: the last errors are the ones that
  matter), while still draining both pipes, so a tool that writes gigabytes neither blocks nor fills
  memory;
- may set environment variables on top of this process's environment (``HOME`` in a scratch folder
  for LibreOffice), and returns a typed :class:`ToolResult` instead of raising for a failing tool.

:func:`version` asks a tool for its version once per process and executable (keyed by the resolved
path and its modification time): PREMIS names the tool version of every conversion and validation,
and asking ``soffice --version`` once per conversion cost a tenth of a real ingest.

Why here: ``format_registry`` is the lowest layer that runs tools, and one that ``packages`` and
``preservation`` may import (DESIGN.md, Layout); it imports nothing of ours. Long-running service
processes (``preservation/deploy``: Airflow, Celery, PostgreSQL, Redis) are not tool runs and are
started there.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_STDOUT = 256 * 1024 * 1024  # bytes of stdout kept; JHOVE's XML for a large PDF can run to tens of MB
MAX_STDERR = 64 * 1024  # bytes of stderr kept (its end)
VERSION_TIMEOUT = 30.0
DRAIN_AFTER_KILL = 10.0  # seconds to collect output once the group is killed (a stray descendant may hold a pipe)
_READ = 64 * 1024


@dataclass(frozen=True)
class ToolResult:
    """What one tool run gave. ``returncode`` is None when the tool was killed on timeout."""

    args: tuple[str, ...]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    seconds: float
    stdout_truncated: bool = False

    @property
    def ok(self) -> bool:
        """The tool finished in time and exited 0."""
        return self.returncode == 0 and not self.timed_out

    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class _Capture:
    """Output of one pipe: the first ``limit`` bytes (``keep="head"``) or the last ones (``"tail"``)."""

    def __init__(self, limit: int, keep: str) -> None:
        self.limit, self.keep = max(0, limit), keep
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        if self.keep == "head":
            room = self.limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            self.truncated = self.truncated or len(chunk) > room
            return
        self.data += chunk
        if len(self.data) > 2 * self.limit + _READ:  # trim now and then, not on every read
            self._trim()

    def _trim(self) -> None:
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]
            self.truncated = True

    def value(self) -> bytes:
        if self.keep == "tail":
            self._trim()
        return bytes(self.data)


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    max_stdout: int = MAX_STDOUT,
    max_stderr: int = MAX_STDERR,
) -> ToolResult:
    """Run ``args`` (no shell) in a new session with stdin closed; on timeout kill its process group.

    ``env`` is set on top of this process's environment. Raises ``OSError`` only when the program
    cannot be started (not found, not executable); a tool that fails or times out is a result."""
    argv = tuple(os.fspath(a) for a in args)
    started = time.monotonic()
    deadline = started + timeout
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, **env} if env is not None else None,
        cwd=cwd,
    )
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    out, err = _Capture(max_stdout, "head"), _Capture(max_stderr, "tail")
    captures = {proc.stdout: out, proc.stderr: err}
    try:
        finished = _pump(captures, deadline)
        if finished:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # closed its output but kept running
                finished = False
        if not finished:
            _kill_group(proc)
            _pump(captures, time.monotonic() + DRAIN_AFTER_KILL)
            proc.wait()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        for stream in captures:
            stream.close()
    return ToolResult(
        argv,
        proc.returncode if finished else None,
        out.value(),
        err.value(),
        not finished,
        time.monotonic() - started,
        out.truncated,
    )


def _pump(captures: dict[IO[bytes], _Capture], deadline: float) -> bool:
    """Read the pipes into ``captures`` until both are at end of file (True) or ``deadline`` passes (False)."""
    with selectors.DefaultSelector() as selector:
        for stream in captures:
            if not stream.closed:
                selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _READ)
                if chunk:
                    captures[key.fileobj].add(chunk)  # type: ignore[index]  # the streams registered above
                else:
                    selector.unregister(key.fileobj)
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the tool's whole process group (its session), and the tool itself should it have left it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


# --------------------------------------------------------------------------------------------- versions


def first_line(result: ToolResult) -> str:
    """The first line a successful ``--version`` printed (stdout, else stderr), at most 120 characters."""
    if not result.ok:
        return ""
    lines = (result.stdout_text().strip() or result.stderr_text().strip()).splitlines()
    return lines[0][:120] if lines else ""


def version(
    program: str,
    attempts: Sequence[Sequence[str]] = (("--version",),),
    parse: Callable[[ToolResult], str] = first_line,
) -> str:
    """The version of ``program`` (a name on PATH or a path), asked once per process.

    Each argument list of ``attempts`` is tried in turn until ``parse`` finds a version in its
    result; "unknown" when none does, or the program is not there. The answer is cached for the
    process, keyed by the executable's resolved path and modification time, so an upgrade of the
    tool under a long-running worker is noticed, and a failing answer is not asked again either."""
    found = shutil.which(program)
    if found is None:
        return "unknown"
    try:
        mtime = Path(found).resolve().stat().st_mtime_ns
    except OSError:
        return "unknown"
    return _version(found, str(Path(found).resolve()), mtime, tuple(tuple(a) for a in attempts), parse)


@functools.lru_cache(maxsize=64)
def _version(
    program: str, resolved: str, mtime: int, attempts: tuple[tuple[str, ...], ...], parse: Callable[[ToolResult], str]
) -> str:
    """Run ``program`` (as found on PATH: a multi-call binary answers by its name) with each attempt.

    ``resolved`` and ``mtime`` are only the cache key."""
    for flags in attempts:
        try:
            result = run([program, *flags], timeout=VERSION_TIMEOUT, max_stdout=MAX_STDERR)
        except OSError:
            continue
        text = parse(result)
        if text:
            return text
    return "unknown"


def clear_version_cache() -> None:
    """Forget every cached version (tests; a process that knows its tools changed under the same mtime)."""
    _version.cache_clear()

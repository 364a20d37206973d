"""Running external validators: argument lists only, a hard timeout, and the whole process group killed.

``jhove`` is a shell script that starts java, and ffmpeg may spawn helpers; killing only the direct
child on timeout would leave them running, so each tool gets its own session and is killed as a group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass

MAX_CAPTURE = 256 * 1024 * 1024  # bytes of stdout kept; JHOVE's XML for a large PDF can run to tens of MB


@dataclass(frozen=True)
class ToolRun:
    returncode: int | None  # None when the tool was killed on timeout
    stdout: bytes
    stderr: bytes
    timed_out: bool


def run_tool(args: list[str], timeout: float, env: dict[str, str] | None = None) -> ToolRun:
    """Run ``args`` (no shell) with stdin closed; on timeout kill its process group and say so."""
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = _kill_group(proc)
        return ToolRun(None, stdout[:MAX_CAPTURE], stderr[-65536:], True)
    except BaseException:
        _kill_group(proc)
        raise
    return ToolRun(proc.returncode, stdout[:MAX_CAPTURE], stderr[-65536:], False)


def _kill_group(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """Kill the tool's process group and collect what it wrote; never wait forever on stray pipes."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # a descendant left the group and holds the pipes open
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait()
        return b"", b""

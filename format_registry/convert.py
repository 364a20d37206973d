"""Run one conversion tool from ``tools.yaml``: argument list, no shell, timeout, scratch folder.

The output is accepted only if the tool exited 0, the file exists and is not empty, and it is
identified as one of the formats the tool promises (``expect``); otherwise the conversion failed
and says why (with the tool's stderr).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from format_registry.identify import FormatIdentification, identify
from format_registry.policy import Tool, output_path, render_command


@dataclass
class Conversion:
    tool: str
    command: list[str]
    output: Path | None
    identification: FormatIdentification | None
    error: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.output is not None and not self.error


def run_tool(tool: Tool, source: Path, workdir: Path) -> Conversion:
    """Convert ``source`` into ``workdir/out`` (created fresh). Never raises for tool failures."""
    outdir, scratch = workdir / "out", workdir / "scratch"
    for folder in (outdir, scratch):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    target = output_path(tool, source=source, outdir=outdir)
    command = render_command(tool, source=source, output=target, outdir=outdir, scratch=scratch)
    started = time.monotonic()
    if shutil.which(command[0]) is None:
        return Conversion(tool.name, command, None, None, f"not performed: {command[0]} not found", "", 0.0)
    env = {**os.environ, "HOME": str(scratch)}  # LibreOffice and friends write their state here, not in ~
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                   start_new_session=True, cwd=scratch)
        try:
            stdout, stderr = process.communicate(timeout=tool.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: soffice forks soffice.bin
            process.communicate()
            return Conversion(tool.name, command, None, None, f"timed out after {tool.timeout:g} s", "",
                              time.monotonic() - started)
    except OSError as exc:
        return Conversion(tool.name, command, None, None, f"cannot run {command[0]}: {exc}", "", 0.0)
    seconds = time.monotonic() - started
    err_text = (stderr or b"").decode("utf-8", "replace")[-4000:]
    if process.returncode != 0:
        return Conversion(tool.name, command, None, None, f"{command[0]} exited {process.returncode}", err_text,
                          seconds)
    if not target.is_file() or target.stat().st_size == 0:
        out_text = (stdout or b"").decode("utf-8", "replace")[-2000:]
        return Conversion(tool.name, command, None, None, f"{command[0]} wrote no output at {target.name}",
                          (err_text + out_text).strip(), seconds)
    found = identify(target)
    if found.puid not in tool.expect and found.mime not in tool.expect:
        return Conversion(tool.name, command, None, found,
                          f"output identified as {found.puid or found.mime}, expected one of {list(tool.expect)}",
                          err_text, seconds)
    return Conversion(tool.name, command, target, found, "", err_text, seconds)


def tool_version(tool: Tool) -> str:
    """A short version string for PREMIS agents (first line of ``--version``/``-version``)."""
    program = tool.command[0]
    if program == "{python}":
        from PIL import __version__ as pillow_version

        return f"Pillow {pillow_version}"
    for flag in ("--version", "-version"):
        try:
            completed = subprocess.run([program, flag], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        line = (completed.stdout or completed.stderr).strip().splitlines()
        if completed.returncode == 0 and line:
            return line[0][:120]
    return "unknown"


def run_tool_batch(tool: Tool, sources: list[Path], workdir: Path) -> list[Conversion]:
    """Convert many files with one process of a ``batch`` tool (LibreOffice), then check each output.

    One start-up for the whole batch instead of one per file; inputs whose names would give the same
    output name, and any input whose output is missing or wrong after the batch, are converted again
    one by one, so every file still gets its own verdict and error."""
    if not tool.batch or len(sources) < 2:
        return [run_tool(tool, source, workdir / str(n)) for n, source in enumerate(sources)]
    outdir, scratch = workdir / "batch-out", workdir / "batch-scratch"
    for folder in (outdir, scratch):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    seen: set[str] = set()
    batched = [s for s in sources if not (s.stem in seen or seen.add(s.stem))]  # type: ignore[func-returns-value]
    command: list[str] = []
    for part in render_command(tool, source=batched[0], output=outdir, outdir=outdir, scratch=scratch):
        command.extend(str(s) for s in batched) if part == str(batched[0]) else command.append(part)
    results: dict[Path, Conversion] = {}
    if shutil.which(command[0]) is not None:
        started = time.monotonic()
        env = {**os.environ, "HOME": str(scratch)}
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                       start_new_session=True, cwd=scratch)
            try:
                _, stderr = process.communicate(timeout=tool.timeout * len(batched))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                _, stderr = process.communicate()
            seconds = (time.monotonic() - started) / len(batched)
            err_text = (stderr or b"").decode("utf-8", "replace")[-4000:]
            for source in batched:
                target = output_path(tool, source=source, outdir=outdir)
                if not target.is_file() or target.stat().st_size == 0:
                    continue  # converted again on its own below, for its own error message
                found = identify(target)
                if found.puid in tool.expect or found.mime in tool.expect:
                    results[source] = Conversion(tool.name, command, target, found, "", err_text, seconds)
        except OSError:
            results.clear()
    return [results.get(source) or run_tool(tool, source, workdir / str(n)) for n, source in enumerate(sources)]

"""format_registry.toolrun, the one way Kho runs external tools: the process group dies on timeout, output
is bounded, and a tool's version is asked once per process however many files it converts."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from format_registry import toolrun
from format_registry.policy import Policy, Tool
from preservation import normalise


def _gone(pid: int) -> bool:
    """The process no longer runs: it does not exist, or it is a zombie waiting for its reaper."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return fields[0] in ("Z", "X")


@pytest.mark.timeout(60)
def test_timeout_kills_the_child_and_the_grandchild(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 300 &\necho $! > '{pidfile}'\nwait\n"
    result = toolrun.run(["/bin/sh", "-c", script], timeout=1)
    assert result.timed_out and result.returncode is None and not result.ok
    grandchild = int(pidfile.read_text())
    while not _gone(grandchild):  # the sleep is in the tool's process group: killed with it
        time.sleep(0.05)  # (pytest-timeout ends this loop with a failure if it never goes)
    assert _gone(grandchild)


@pytest.mark.timeout(60)
def test_a_tool_that_closes_its_output_but_runs_on_is_killed(tmp_path: Path) -> None:
    result = toolrun.run(["/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 300"], timeout=1)
    assert result.timed_out and result.returncode is None


def test_finished_tool_gives_exit_status_output_and_environment(tmp_path: Path) -> None:
    script = 'printf "%s" "$KHO_TEST_VALUE"; pwd >&2; exit 3'
    result = toolrun.run(["/bin/sh", "-c", script], timeout=30, env={"KHO_TEST_VALUE": "giá trị"}, cwd=tmp_path)
    assert (result.returncode, result.timed_out, result.ok) == (3, False, False)
    assert result.stdout_text() == "giá trị"
    assert result.stderr_text().strip() == str(tmp_path)
    assert result.args == ("/bin/sh", "-c", script)
    assert "PATH" in os.environ and toolrun.run(["/bin/sh", "-c", 'test -n "$PATH"'], timeout=30, env={}).ok


def test_output_is_bounded_and_the_pipes_keep_draining() -> None:
    # 8 MiB on each stream: far more than a pipe buffer, so a runner that stopped reading would hang
    program = ("import sys; sys.stdout.buffer.write(b'a' * (8 << 20) + b'END'); "
               "sys.stderr.buffer.write(b'b' * (8 << 20) + b'LAST')")
    result = toolrun.run([sys.executable, "-c", program], timeout=120, max_stdout=1000, max_stderr=100)
    assert result.ok
    assert result.stdout == b"a" * 1000 and result.stdout_truncated  # the start of stdout
    assert len(result.stderr) == 100 and result.stderr.endswith(b"LAST")  # the end of stderr


def test_a_program_that_cannot_start_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        toolrun.run([str(tmp_path / "no-such-tool")], timeout=5)


def _counting_tool(tmp_path: Path) -> tuple[Path, Path]:
    """A converter that logs each start: ``--version`` prints a version, else it copies {input} to {output}."""
    log = tmp_path / "starts.log"
    script = tmp_path / "fake-converter"
    script.write_text(
        "#!/bin/sh\n"
        f"echo \"$1\" >> '{log}'\n"
        'if [ "$1" = --version ]; then echo "fake-converter 2.5.1"; exit 0; fi\n'
        'cp "$1" "$2"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def test_the_version_is_asked_once_for_many_conversions(tmp_path: Path) -> None:
    toolrun.clear_version_cache()
    script, log = _counting_tool(tmp_path)
    tool = Tool("fake", (str(script), "{input}", "{output}"), "{outdir}/{stem}.txt", "txt", 30.0,
                ("text/plain", "x-fmt/111"))
    policy = Policy(tmp_path / "policy.yaml", {}, [], {"fake": tool})
    sip = tmp_path / "sip"
    (sip / "data").mkdir(parents=True)
    jobs = []
    for number in range(24):
        (sip / "data" / f"văn bản {number}.txt").write_text(f"Nội dung số {number}\n", encoding="utf-8")
        jobs.append(normalise.Job(f"file-{number}", f"data/văn bản {number}.txt", "preservation", "fake", "TXT"))
    agents = []
    for batch in range(4):  # as the ingest's normalisation batches do, in one process
        derivatives, _events, review, tool_agents = normalise.run_jobs(
            policy, jobs[batch * 6:(batch + 1) * 6], sip_dir=sip, derivatives_dir=tmp_path / "derivatives",
            aip_id="aip-1", digests=("sha256",), workers=2)
        assert len(derivatives) == 6 and review == []
        agents += tool_agents
    starts = log.read_text().splitlines()
    assert starts.count("--version") == 1
    assert len(starts) == 24 + 1
    assert {a["version"] for a in agents} == {"fake-converter 2.5.1"}


def test_a_replaced_tool_is_asked_again(tmp_path: Path) -> None:
    toolrun.clear_version_cache()
    script, log = _counting_tool(tmp_path)
    assert [toolrun.version(str(script)) for _ in range(5)] == ["fake-converter 2.5.1"] * 5
    later = script.stat().st_mtime_ns + 5_000_000_000
    os.utime(script, ns=(later, later))  # an upgrade of the tool under a running worker
    assert toolrun.version(str(script)) == "fake-converter 2.5.1"
    assert log.read_text().splitlines() == ["--version", "--version"]
    assert toolrun.version(str(tmp_path / "not-installed")) == "unknown"

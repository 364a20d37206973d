"""Virus scanning with ClamAV's ``clamscan``: one scan of a whole SIP, with an answer that is never a
silent "clean".

Four outcomes, each kept apart because an archivist acts differently on each:

- ``clean``: the scanner ran with a signature database and found nothing;
- ``infected``: it named files and signatures (the SIP is rejected);
- ``not performed``: no scanner, or a scanner without any signature database (an installation gap,
  recorded and warned about; the ingest goes on, as with no ClamAV at all);
- ``ScanError`` (raised): the scanner failed or timed out on this SIP; a fault to retry, not a verdict.

``clamscan`` (standalone) is used rather than ``clamdscan``: the daemon needs a running service and
reads files as its own user, and a failure of either would stop every ingest. ``KHO_CLAMAV_DB``
points at a signature folder or file other than ``/var/lib/clamav`` (an offline mirror, or a test set).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from format_registry import toolrun

SCAN_TIMEOUT = 3600
VERSION_TIMEOUT = 60
DEFAULT_DATABASE = Path("/var/lib/clamav")
DATABASE_SUFFIXES = (".cvd", ".cld", ".cud", ".hdb", ".hsb", ".ndb", ".ldb", ".mdb", ".msb", ".yar", ".yara", ".cdb")
FOUND = re.compile(r"^(?P<path>.+): (?P<signature>\S+) FOUND$")

MISSING = (
    "virus check not performed: ClamAV (clamscan) is not installed; install the Debian package clamav and "
    "load signatures with freshclam (or set KHO_CLAMAV_DB) / chưa quét virus: chưa cài ClamAV"
)
NO_DATABASE = (
    "virus check not performed: ClamAV is installed but has no virus database; run freshclam (Debian package "
    "clamav-freshclam) or set KHO_CLAMAV_DB / chưa quét virus: ClamAV chưa có cơ sở dữ liệu virus"
)


class ScanError(RuntimeError):
    """The scanner could not give a verdict on this SIP (it failed or timed out)."""


@dataclass(frozen=True)
class ScanResult:
    outcome: str  # clean | infected | not performed
    message: str = ""  # for the log and the event: why not performed, or what was found
    program: str = ""
    version: str = ""
    found: list[tuple[str, str]] = field(default_factory=list)  # (path relative to the scanned folder, signature)


def _has_signatures(database: Path) -> bool:
    if database.is_file():
        return True
    try:
        return any(p.suffix.lower() in DATABASE_SUFFIXES for p in database.iterdir())
    except OSError:
        return False


def scanner_version(program: str, database: Path | None) -> str:
    """``ClamAV 1.4.6/27480/...``: engine and, with the official database, its version.

    Asked for every scan (once per SIP), not cached like other tools' versions (``toolrun.version``):
    the signature part changes whenever freshclam updates the database under a running worker."""
    command = [program, "--version"] + ([f"--database={database}"] if database else [])
    try:
        completed = toolrun.run(command, timeout=VERSION_TIMEOUT)
    except OSError:
        return "unknown"
    stdout = completed.stdout_text().strip() if not completed.timed_out else ""
    return stdout.splitlines()[0] if stdout else "unknown"


def scan(folder: Path, *, database: str = "", timeout: float = SCAN_TIMEOUT) -> ScanResult:
    """Scan every file under ``folder`` (payload and tag files alike: both reach the archive)."""
    program = shutil.which("clamscan")
    if program is None:
        return ScanResult("not performed", MISSING)
    db_path = Path(database) if database else None
    if not _has_signatures(db_path or DEFAULT_DATABASE):
        where = db_path or DEFAULT_DATABASE
        return ScanResult("not performed", f"{NO_DATABASE} ({where})", program="clamscan")
    version = scanner_version(program, db_path)
    command = [program, "--infected", "--no-summary", "--recursive", "--stdout"]
    if db_path is not None:
        command.append(f"--database={db_path}")
    command += ["--", str(folder)]
    completed = toolrun.run(command, timeout=timeout)  # killed with its process group on timeout
    if completed.timed_out:
        raise ScanError(f"clamscan did not finish within {timeout:.0f} s")
    stdout = completed.stdout_text()
    if completed.returncode == 0:
        return ScanResult("clean", "no virus found", "clamscan", version)
    if completed.returncode == 1:
        found = []
        for line in stdout.splitlines():
            match = FOUND.match(line.strip())
            if match:
                path = Path(match["path"])
                relative = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)
                found.append((relative, match["signature"]))
        listed = "; ".join(f"{p}: {s}" for p, s in found[:20]) + (f" (+{len(found) - 20} more)" if len(found) > 20
                                                                    else "")
        return ScanResult("infected", listed or stdout.strip()[:2000], "clamscan", version, found)
    detail = (completed.stderr_text() or stdout).strip()[-1000:]
    raise ScanError(f"clamscan failed (exit {completed.returncode}): {detail}")

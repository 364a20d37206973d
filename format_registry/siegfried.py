"""Siegfried as Kho's identification engine: pygfried in-process, current PRONOM, libmagic for MIME gaps.

Why Siegfried: it implements DROID's rules (container signatures, priorities, byte sequences at any
offset) and pygfried ships it with a current PRONOM release; FIDO 1.6's bundled PRONOM is v109
(2022). On the files whose answer is known it was right more often (decision 0016).

A newer PRONOM needs no code change: Siegfried reads a signature file (``.sig``, made by ``sf -update``
or ``roy build``) given as ``signature``; pygfried validates and loads it into memory when the scanner
is made, so replacing the file later does not change a running process.

Siegfried's answers map onto Kho's vocabulary (``identify.METHODS``) by their basis:

=========================================  ===========  ==============================================
Siegfried says                             method       PUID / MIME
=========================================  ===========  ==============================================
``container name ...`` / ``container ...``  container    its PUID; PRONOM's MIME, else libmagic's
``byte match`` / ``xml match`` / ``riff``   signature    its PUID; PRONOM's MIME, else libmagic's
``text match`` (no PRONOM signature)        text         its PUID (x-fmt/111 ...); MIME likewise
``extension match`` only                    extension    its PUID (one candidate); MIME likewise
``UNKNOWN``                                 magic/none   no PUID; the extension's candidates listed;
                                                         libmagic's MIME where it has one
=========================================  ===========  ==============================================

Siegfried's own warning (``extension mismatch`` ...) is kept in ``FormatIdentification.warning``.

Large files: Siegfried reads some formats whole through a memory map (PDF, WAVE, text), so a file larger
than ``PROXY_ABOVE`` (16 MiB) is identified from a copy of its first and last ``SCAN_WINDOW`` (4 MiB)
bytes under its own name, and the result says so (see :func:`_scan_views`).

Concurrency: a scanner is immutable and safe from many threads (pygfried holds the GIL while it works).
It is **not** fork-safe: a process forked after the Go runtime started hangs in its first Go call (seen
here: the child never returns). So many files are identified by Siegfried's own Go workers inside this
process (:meth:`SiegfriedIdentifier.identify_batch`), never by forked Python workers, and a scanner used
in a forked child raises instead of hanging (so does making a scanner there). Processes that only fork to
hash or validate are unaffected: they never call into Go.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from format_registry.identification import EngineInfo, FormatIdentification, IdentificationEngineError, Identifier

BATCH_FILES = 256  # files per Go call: pygfried holds the GIL for a whole call, so keep each one short
_CANDIDATE = re.compile(r"[\w.-]*fmt/\d+")
CONTAINER_BASES = ("container name", "container match")
SIGNATURE_BASES = ("byte match", "xml match", "riff match")
_go_started_in: int | None = None  # the process that started pygfried's Go runtime
SCAN_WINDOW = 4 * 1024 * 1024  # bytes from each end that Siegfried reads of a large file
PROXY_ABOVE = 4 * SCAN_WINDOW  # files larger than this are read through a head + tail copy
WHOLE_CONTAINERS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # members read by offset: never cut


@contextlib.contextmanager
def _scan_views(paths: Sequence[Path], sizes: Sequence[int]) -> Iterator[dict[Path, Path]]:
    """Stand-ins for the large files among ``paths``: each file's first and last ``SCAN_WINDOW`` bytes under its
    own name (the extension counts), in a private scratch folder removed on exit.

    Why: Siegfried reads some formats whole (PDF, WAVE, text: signatures that may match anywhere), through a
    memory map, so a 1 GB WAVE took 4.6 s and raised the process's peak RSS by 1 GB. DROID (64 KiB by default)
    and FIDO (128 KiB) read only the ends of a file; 4 MiB from each end is far more than either. ZIP and OLE2
    files are left whole: their parts are found by offset, and Siegfried does not read them whole. (Where the
    two ends are joined a character may be cut in two; Siegfried's text matcher does not mind: tried with
    UTF-8 and UTF-16 text.)"""
    large = [(p, n) for p, n in zip(paths, sizes, strict=True) if n > PROXY_ABOVE and not _is_container(p)]
    if not large:
        yield {}
        return
    folder = Path(tempfile.mkdtemp(prefix="kho-siegfried-"))  # 0700, in $KHO_HOME/tmp once Kho adopted it
    try:
        views: dict[Path, Path] = {}
        for number, (path, size) in enumerate(large):
            view = folder / str(number) / path.name  # the same name: Siegfried weighs the extension too
            view.parent.mkdir()
            with open(path, "rb") as source, open(view, "wb") as target:
                target.write(source.read(SCAN_WINDOW))
                source.seek(size - SCAN_WINDOW)
                target.write(source.read(SCAN_WINDOW))
            views[path] = view
        yield views
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _is_container(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(8).startswith(WHOLE_CONTAINERS)


def check_signature_file(path: Path) -> None:
    """Fail early and clearly when a configured signature file is not there (Siegfried checks its content)."""
    if not path.is_file():
        raise IdentificationEngineError(
            f"Siegfried signature file {path} does not exist or is not a file: give the path of a .sig file "
            "(made by `sf -update` or `roy build`), or leave the setting empty to use the one pygfried bundles"
        )


def _signatures(identifiers: Sequence[Mapping[str, object]]) -> str:
    """``DROID_SignatureFile_V125 / container-signature-20260119`` from Siegfried's identifier details
    (other identifiers, e.g. a MIME-info one in a custom .sig, are named as ``name: details``)."""
    parts = []
    for identifier in identifiers:
        details = " / ".join(
            piece.strip().removesuffix(".xml") for piece in str(identifier.get("details", "")).split(";")
            if piece.strip()
        )
        name = str(identifier.get("name", ""))
        parts.append(details if name == "pronom" else f"{name}: {details}")
    return "; ".join(parts) or "unknown signatures"


def _method(basis: str) -> str:
    if any(kind in basis for kind in CONTAINER_BASES):
        return "container"
    if any(kind in basis for kind in SIGNATURE_BASES):
        return "signature"
    if "text match" in basis:
        return "text"
    return "extension"


class SiegfriedIdentifier(Identifier):
    """A loaded Siegfried scanner (bundled signatures, or the ``signature`` file given) plus libmagic."""

    def __init__(self, signature: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        try:
            import pygfried
        except ImportError as exc:  # a dependency in pyproject.toml; say so rather than a bare ImportError
            raise IdentificationEngineError(
                "the Siegfried engine needs the Python package pygfried (pip install 'pygfried>=2.2,<3'), "
                "or choose the fido engine"
            ) from exc
        self._pygfried: Any = pygfried
        global _go_started_in
        if _go_started_in not in (None, os.getpid()):
            raise RuntimeError(
                f"pygfried's Go runtime was started in process {_go_started_in}, and this process ({os.getpid()}) "
                "was forked from it: Go code hangs after fork. Start workers with the spawn method instead"
            )
        _go_started_in = os.getpid()
        path = None if signature is None else Path(signature).expanduser().resolve()
        if path is not None:
            check_signature_file(path)
        try:
            self._scanner: Any = pygfried.Scanner(signature=str(path)) if path else pygfried.Scanner()
        except pygfried.GoError as exc:
            raise IdentificationEngineError(
                f"Siegfried cannot load the signature file {path}: {exc}. Give a .sig file made for Siegfried "
                f"{pygfried.version()} (`sf -update`, `roy build`), or leave the setting empty to use the bundled one"
            ) from exc
        self._pid = os.getpid()
        header = self._scanner.identify_many([])  # the signature file's description, without a file
        self._set_info(EngineInfo(
            engine="siegfried",
            name="Siegfried",
            version=str(header.get("siegfried") or pygfried.version()),
            signatures=_signatures(header.get("identifiers") or []),
            signature_file=str(path) if path else str(header.get("signature") or self._scanner.signature),
            signature_created=header.get("created") or None,
            libmagic=self._libmagic_version,
        ))  # fmt: skip

    def _check_process(self) -> None:
        if os.getpid() != self._pid:
            raise RuntimeError(
                f"the Siegfried scanner was loaded in process {self._pid} and this process ({os.getpid()}) was "
                "forked from it: Go code hangs after fork. Identify in the parent (identify_many uses Go threads), "
                "or start workers with the spawn method and load Siegfried in each"
            )

    def identify(self, path: Path | str) -> FormatIdentification:
        return self.identify_batch([path], 1)[0]

    def identify_batch(self, paths: Sequence[Path | str], workers: int) -> list[FormatIdentification]:
        """Siegfried's Go workers (``workers`` of them) over ``BATCH_FILES`` files per call; input order kept.

        Raises ``FileNotFoundError`` for a missing file, as FIDO's path does."""
        self._check_process()
        results: list[FormatIdentification] = []
        for start in range(0, len(paths), BATCH_FILES):
            part = [Path(p) for p in paths[start:start + BATCH_FILES]]
            sizes = [p.stat().st_size for p in part]
            with _scan_views(part, sizes) as views:
                scan = [views.get(p, p) for p, size in zip(part, sizes, strict=True) if size]
                if len(scan) == 1:  # one file: the single-file call skips the batch machinery
                    found = [self._scanner.identify(os.fspath(scan[0]), detailed=True)["files"][0]]
                else:
                    found = self._scanner.identify_many([os.fspath(p) for p in scan], workers=max(1, workers))["files"]
            by_name = {entry["filename"]: entry for entry in found}
            for path, size in zip(part, sizes, strict=True):
                if not size:
                    results.append(self.empty())
                    continue
                name = os.fspath(views.get(path, path))
                entry = by_name.get(name)
                if entry is None:  # not reported under the name it was given: a bug to hear about, not to guess
                    raise RuntimeError(f"Siegfried returned no result for {name}")
                found_one = self._answer(path, entry)
                if path in views:
                    note = f"identified from its first and last {SCAN_WINDOW // 2**20} MiB (of {size:,} bytes)"
                    found_one = replace(found_one, warning="; ".join(w for w in (found_one.warning, note) if w))
                results.append(found_one)
        return results

    def _answer(self, path: Path, entry: dict[str, Any] | None) -> FormatIdentification:
        """Kho's answer from Siegfried's result for one (non-empty) file."""
        matches = (entry or {}).get("matches") or []
        error = (entry or {}).get("errors") or None
        match = next((m for m in matches if m.get("id") and m["id"] != "UNKNOWN"), None)
        if match is None:
            warning = (matches[0].get("warning") if matches else "") or ""
            candidates: tuple[str, ...] = ()
            if "possibilities based on" in warning:
                candidates = tuple(_CANDIDATE.findall(warning.split("possibilities based on", 1)[1]))
            mime = self.magic_mime(path)
            reason = "no single PRONOM format matched" if mime else "format not identified"
            return FormatIdentification(
                None, None, None, mime, "magic" if mime else "none", self.tool, candidates=candidates,
                warning="; ".join(w for w in (reason, error) if w), engine="siegfried",
            )  # fmt: skip
        mime = match.get("mime") or self.magic_mime(path)  # PRONOM names no MIME type for many formats
        warning = "; ".join(w for w in (match.get("warning"), error) if w) or None
        return FormatIdentification(
            puid=match["id"],
            format_name=match.get("format") or None,
            format_version=match.get("version") or None,
            mime=mime,
            method=_method(match.get("basis") or ""),
            tool=self.tool,
            candidates=(match["id"],),
            warning=warning,
            engine="siegfried",
        )

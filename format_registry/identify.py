"""Format identification: PRONOM PUIDs from Siegfried or FIDO, in-process, libmagic as the MIME fallback.

Two engines stand behind one interface (:class:`Identifier`, :func:`identify`, :func:`identify_many`):

- ``siegfried`` (the default, ``format_registry/siegfried.py``): Siegfried in-process through pygfried,
  with the current PRONOM signature file it bundles, or another ``.sig`` file (a newer PRONOM release
  needs no code change). Chosen because it was right more often on files whose answer is known
  (docs/decisions/0016-identification-engine.md has the numbers).
- ``fido``: FIDO as a library (one signature load per process, no process per file). Its container
  signatures identify OOXML/ODF/OLE2 documents as DROID does (``containers.py``); when no byte
  signature matches, its extension table is narrowed with libmagic's MIME type so that ``notes.txt``
  becomes x-fmt/111 rather than one of three formats that share the extension.

Every result names the engine and its signature version (``FormatIdentification.tool``,
:func:`engine_info`), so a PREMIS event says which PRONOM release made the call. The engine is chosen by
parameters (``engine=``, ``siegfried_signature=``) or once per process with :func:`configure`;
``format_registry`` reads no settings of its own (``preservation.config`` passes ``KHO_IDENTIFY_ENGINE``
and ``KHO_SIEGFRIED_SIGNATURE`` in).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

# The shared types live in a leaf module (the engines import it, and this module loads the engines);
# re-exported here for callers.
from format_registry.identification import DEFAULT_ENGINE as DEFAULT_ENGINE
from format_registry.identification import ENGINES as ENGINES
from format_registry.identification import METHODS as METHODS
from format_registry.identification import EngineInfo as EngineInfo
from format_registry.identification import FormatIdentification as FormatIdentification
from format_registry.identification import IdentificationEngineError as IdentificationEngineError
from format_registry.identification import Identifier as Identifier


def _text(element: Any, tag: str) -> str | None:
    found = element.find(tag)
    return found.text if found is not None and found.text else None



class FidoIdentifier(Identifier):
    """FIDO 1.6 with the PRONOM signatures it bundles, as a library, plus DROID-style container matching."""

    def __init__(self, optimised: bool = True) -> None:
        """``optimised=False`` keeps FIDO's own matcher: the reference the fast path is tested against."""
        super().__init__()
        from fido import CONFIG_DIR
        from fido import fido as fido_module
        from fido.versions import get_local_versions

        versions = get_local_versions(CONFIG_DIR)
        fido_module.defaults["containersignature_file"] = versions.pronom_container_signature
        self._matches: list[tuple[Any, str]] = []
        self._matchtype = "fail"
        self._fido = fido_module.Fido(
            quiet=True,
            handle_matches=self._collect,
            nocontainer=True,  # container signatures are matched below, parsed once rather than per file
            format_files=[versions.pronom_signature, versions.fido_extension_signature],
        )
        from format_registry import containers

        self._containers = containers.from_fido(
            self._fido, Path(CONFIG_DIR) / versions.pronom_container_signature
        )
        self._all_formats = list(self._fido.formats)
        self._candidates: list[int] = list(range(len(self._all_formats)))
        self._optimised = optimised
        if optimised:
            self._index_first_bytes()
        self.signature_version = versions.pronom_signature
        container_name = Path(versions.pronom_container_signature).stem
        self._set_info(EngineInfo(
            engine="fido",
            name="FIDO",
            version=package_version("opf-fido"),
            signatures=f"PRONOM v{versions.pronom_version} / {container_name}",
            signature_file=versions.pronom_signature,
            libmagic=self._libmagic_version,
        ))  # fmt: skip
        self._lock = threading.Lock()

    def _collect(self, fullname: str, matches: list[tuple[Any, str]], delta_t: float, matchtype: str = "") -> None:
        self._matches = list(matches)
        self._matchtype = matchtype or "fail"

    def _index_first_bytes(self) -> None:
        """Index FIDO's formats by the literal first byte their BOF signatures demand.

        FIDO tries every one of ~2,200 formats on every file; a signature anchored at the start with
        a literal first byte cannot match a file that starts otherwise, so only the formats that
        could match are handed to FIDO's own matcher (same order, same priority rules, same result).
        Formats with any signature lacking such a byte are always tried."""
        formats = self._fido.formats
        self._always: set[int] = set()
        self._by_offset: dict[int, dict[int, set[int]]] = {}  # offset -> byte found there -> formats
        self._windows: list[tuple[int, int, int, bytes]] = []  # format, lowest, highest offset, byte
        for number, element in enumerate(formats):
            signatures = element.findall("signature")
            if not signatures:
                continue  # extension-only entries: never matched by signature
            for signature in signatures:
                required = None
                for pattern in signature.findall("pattern"):
                    if pattern.findtext("position") == "BOF":
                        required = _required_byte((pattern.findtext("regex") or "").encode("utf8"))
                        break
                if required is None:
                    self._always.add(number)
                elif required[0] == required[1]:
                    low, _, byte = required
                    self._by_offset.setdefault(low, {}).setdefault(byte, set()).add(number)
                else:  # ".{m,n}X": X somewhere in that window
                    self._windows.append((number, required[0], required[1], bytes([required[2]])))
        self._head_size = max([*self._by_offset, *(w[2] for w in self._windows)], default=0) + 1
        self._puids = [element.findtext("puid") for element in formats]
        priority = self._fido.puid_has_priority_over_map
        self._priority = [priority.get(puid, frozenset()) for puid in self._puids]
        # for each format, the formats that have priority over it (FIDO's _as_good_as_any, as a set test)
        numbers_of: dict[str | None, list[int]] = {}
        for number, puid in enumerate(self._puids):
            numbers_of.setdefault(puid, []).append(number)
        outranked: list[set[int]] = [set() for _ in formats]
        for other, lower in enumerate(self._priority):
            for puid in lower:
                for number in numbers_of.get(puid, []):
                    if number != other:
                        outranked[number].add(other)
        self._outranked_by = [frozenset(o) for o in outranked]
        # compiled on first use: a file is a candidate for ~160 of ~2,250 formats, and compiling all
        # of them was most of a process's start-up (every Airflow task and worker pays it)
        self._compiled: list[list[tuple[str, list[tuple[str, re.Pattern[bytes]]] | None]] | None] = [None] * len(
            formats
        )
        self._fido.match_formats = self._match_formats
        self._by_extension: dict[str, list[int]] = {}
        for number, element in enumerate(formats):
            for extension in dict.fromkeys(e.text for e in element.findall("extension") if e.text):
                self._by_extension.setdefault(extension, []).append(number)
        self._fido.match_extensions = self._match_extensions

    def _match_extensions(self, filename: str) -> list[tuple[Any, str]]:
        """FIDO's ``match_extensions`` through an index of extensions (same order, same result)."""
        extension = os.path.splitext(filename)[1].lower().lstrip(".")
        if not extension:
            return []
        name = self._fido.externalsig.findtext("name")
        found = [(number, name) for number in self._by_extension.get(extension, [])]
        found = [m for m in found if self._as_good_as_any(m[0], found)]
        return [(self._all_formats[number], sig) for number, sig in found]

    def _match_formats(self, bofbuffer: bytes, eofbuffer: bytes) -> list[tuple[Any, str]]:
        """FIDO's ``match_formats`` (same order, same priority rules, same result) over the candidate
        formats only, with every regex compiled once instead of looked up per file and format."""
        found: list[tuple[int, str]] = []
        found_numbers: set[int] = set()
        outranked_by = self._outranked_by
        compiled = self._compiled
        for number in self._candidates:
            if found_numbers and not outranked_by[number].isdisjoint(found_numbers):
                continue  # a format already found has priority over this one
            signatures = compiled[number]
            if signatures is None:
                signatures = compiled[number] = _compile_signatures(self._all_formats[number])
            for name, patterns in signatures:
                if patterns is None:  # a regex FIDO cannot compile: FIDO skips the rest of the format
                    break
                for position, regex in patterns:
                    if position == "BOF":
                        hit = regex.match(bofbuffer)
                    elif position == "EOF":
                        hit = regex.search(eofbuffer)
                    else:  # VAR, IFB
                        hit = regex.search(bofbuffer)
                    if not hit:
                        break
                else:
                    found.append((number, name))
                    found_numbers.add(number)
        found = [m for m in found if outranked_by[m[0]].isdisjoint(found_numbers)]
        return [(self._all_formats[number], name) for number, name in found]

    def _as_good_as_any(self, number: int, found: list[tuple[int, str]]) -> bool:
        if not found:
            return True
        puid = self._puids[number]
        return not any(other != number and puid in self._priority[other] for other, _ in found)

    def _candidates_for(self, path: Path) -> list[int]:
        try:
            with open(path, "rb") as handle:
                head = handle.read(self._head_size)
        except OSError:
            return list(range(len(self._all_formats)))
        numbers = set(self._always)
        for offset, by_byte in self._by_offset.items():
            if offset < len(head):
                numbers.update(by_byte.get(head[offset], ()))
        for number, low, high, byte in self._windows:
            if number not in numbers and head.find(byte, low, high + 1) != -1:
                numbers.add(number)
        return sorted(numbers)

    def _container_kind(self, path: Path, matches: list[tuple[Any, str]]) -> str | None:
        kind = self._fido.container_type(matches)
        if kind in ("zip", "ole"):
            return str(kind)
        try:
            with open(path, "rb") as handle:
                head = handle.read(8)
        except OSError:
            return None
        if head.startswith(b"PK\x03\x04"):
            return "zip"
        if head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            return "ole"
        return None

    def _match_container(self, path: Path, kind: str) -> list[tuple[Any, str]]:
        formats = self._fido.puid_format_map
        # Every file of each container signature is checked and PRONOM priorities applied (DROID's
        # semantics, not FIDO's first-file check); what is left is ordered most specific signature
        # first, then newest PRONOM entry, so the answer is stable.
        found = [(p, specificity) for p, specificity in self._containers.match(path, kind) if p in formats]
        ordered = sorted(found, key=lambda item: (item[1], _puid_order(item[0])), reverse=True)
        return [(formats[p], formats[p].findtext("name")) for p, _ in ordered]

    def identify(self, path: Path | str) -> FormatIdentification:
        path = Path(path)
        with self._lock:
            self._matches, self._matchtype = [], "fail"
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                if self._optimised:
                    self._candidates = self._candidates_for(path)
                self._fido.identify_file(os.fspath(path))
            matches, matchtype = self._matches, self._matchtype
            container = self._container_kind(path, matches)
            if container:
                container_matches = self._match_container(path, container)
                if container_matches:
                    matches, matchtype = container_matches, "container"
            # libmagic only where FIDO's answer needs it (it costs as much as the signature match)
            needs_magic = matchtype == "extension" or len(matches) != 1 or not _text(matches[0][0], "mime")
            mime_magic = self.magic_mime(path) if needs_magic else None
        if path.stat().st_size == 0:
            return self.empty()
        if matchtype == "extension":
            if mime_magic != "text/plain" and any(_text(m[0], "mime") == "text/plain" for m in matches):
                # libmagic's weak audio/video heuristics fire on some UTF-8 Vietnamese text ("V\xe1..."
                # reads as an MPEG-4 LATM sync word); text that decodes cleanly is text.
                mime_magic = "text/plain" if _is_utf8_text(path) else mime_magic
            narrowed = [m for m in matches if _text(m[0], "mime") and _text(m[0], "mime") == mime_magic]
            if narrowed:
                matches = narrowed
            elif len(matches) != 1:
                matches = []
        if matches:
            chosen = matches[0]
            if len(matches) > 1 and mime_magic:
                chosen = next((m for m in matches if _text(m[0], "mime") == mime_magic), chosen)
            element = chosen[0]
            method = {"container": "container", "signature": "signature", "extension": "extension"}.get(
                matchtype, "signature"
            )
            return FormatIdentification(
                puid=_text(element, "puid"),
                format_name=_text(element, "name"),
                format_version=_text(element, "version"),
                mime=_text(element, "mime") or mime_magic,
                method=method,
                tool=self.tool,
                candidates=tuple(p for p in (_text(m[0], "puid") for m in matches) if p),
                engine="fido",
            )
        if mime_magic:
            return FormatIdentification(
                None,
                None,
                None,
                mime_magic,
                "magic",
                self.tool,
                candidates=tuple(p for p in (_text(m[0], "puid") for m in self._matches) if p),
                warning="no single PRONOM format matched",
                engine="fido",
            )
        return FormatIdentification(
            None, None, None, None, "none", self.tool, warning="format not identified", engine="fido"
        )


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
TEXT_SNIFF_BYTES = 65536


def _is_utf8_text(path: Path) -> bool:
    """The file's first 64 kB are UTF-8 without control characters (a cut multi-byte tail allowed)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(TEXT_SNIFF_BYTES)
    except OSError:
        return False
    if not head or _CONTROL.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return len(head) == TEXT_SNIFF_BYTES and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


_FIRST_TOKEN = re.compile(rb"\\x([0-9a-fA-F]{2})|\\([^0-9A-Za-z])|([^.\[\](){}*+?|^$\\])|\\([nrtfva])", re.S)
_CONTROL_ESCAPES = {b"n": 10, b"r": 13, b"t": 9, b"f": 12, b"v": 11, b"a": 7}


_FIXED_SKIP = re.compile(rb"\.\{(\d+)(?:,(\d+))?\}")
MAX_INDEXED_OFFSET = 4096


def _required_byte(regex: bytes) -> tuple[int, int, int] | None:
    """(lowest offset, highest offset, byte): a FIDO BOF regex (``(?s)\\A...``) requires that byte somewhere
    in that window of the file's head; None if it has no such byte.

    Handles a literal first token, optionally after a skip ``.{n}``, ``.{n,n}`` or ``.{m,n}``; anything
    else (classes, groups, top-level alternatives) gives None, so the format is always tried."""
    prefix = b"(?s)\\A"
    if not regex.startswith(prefix):
        return None
    rest = regex[len(prefix):]
    if _has_top_level_alternative(rest):
        return None
    low = high = 0
    skip = _FIXED_SKIP.match(rest)
    if skip:
        low = int(skip.group(1))
        high = int(skip.group(2)) if skip.group(2) is not None else low
        rest = rest[skip.end():]
    if high > MAX_INDEXED_OFFSET:
        return None
    match = _FIRST_TOKEN.match(rest)
    if not match or rest[match.end():match.end() + 1] in (b"?", b"*", b"{"):
        return None
    if match.group(1):
        return low, high, int(match.group(1), 16)
    if match.group(4):
        return low, high, _CONTROL_ESCAPES[match.group(4)]
    return low, high, (match.group(2) or match.group(3))[0]


def _puid_order(puid: str) -> tuple[int, int]:
    prefix, _, number = puid.rpartition("/")
    return (1 if prefix == "fmt" else 0, int(number) if number.isdigit() else -1)


def _compile_signatures(element: Any) -> list[tuple[str, list[tuple[str, re.Pattern[bytes]]] | None]]:
    signatures: list[tuple[str, list[tuple[str, re.Pattern[bytes]]] | None]] = []
    for signature in element.findall("signature"):
        try:
            patterns = [
                (pattern.findtext("position") or "", re.compile((pattern.findtext("regex") or "").encode("utf8")))
                for pattern in signature.findall("pattern")
            ]
        except re.error:
            signatures.append((signature.findtext("name") or "", None))
            continue
        signatures.append((signature.findtext("name") or "", patterns))
    return signatures


def _has_top_level_alternative(regex: bytes) -> bool:
    depth, index, in_class = 0, 0, False
    while index < len(regex):
        char = regex[index:index + 1]
        if char == b"\\":
            index += 2
            continue
        if in_class:
            in_class = char != b"]"
        elif char == b"[":
            in_class = True
        elif char == b"(":
            depth += 1
        elif char == b")":
            depth -= 1
        elif char == b"|" and depth == 0:
            return True
        index += 1
    return False


# -- choosing the engine ---------------------------------------------------------------------------

Choice = tuple[str, str | None]  # (engine, Siegfried signature file as an absolute path, or None: bundled)

_default: Choice = (DEFAULT_ENGINE, None)
_shared: dict[Choice, Identifier] = {}
_shared_lock = threading.Lock()


def resolve(engine: str | None = None, siegfried_signature: str | os.PathLike[str] | None = None) -> Choice:
    """The (engine, signature) a call means: its own arguments, else the process default (:func:`configure`).

    A signature file only matters to Siegfried; for FIDO it is dropped, so both spellings share one
    loaded engine."""
    chosen = (engine or _default[0]).strip().lower()
    if chosen not in ENGINES:
        raise IdentificationEngineError(f"unknown identification engine {engine!r}: choose one of {ENGINES}")
    if chosen != "siegfried":
        return chosen, None
    signature = siegfried_signature if siegfried_signature not in (None, "") else _default[1]
    return chosen, None if signature is None else str(Path(signature).expanduser().resolve())


def configure(
    engine: str | None = None, siegfried_signature: str | os.PathLike[str] | None = None, *, load: bool = False
) -> Choice:
    """Make ``engine`` (and Siegfried's signature file) this process's default for :func:`identify`,
    :func:`identify_many` and :func:`shared_identifier`; returns the choice.

    ``engine=None`` means the built-in default, ``siegfried_signature=None`` the signature file pygfried
    bundles: configuring resets what an earlier call set. The choice is checked at once (engine name,
    signature file present); ``load=True`` also loads the engine, so a signature file Siegfried cannot
    read fails here, at start-up, rather than at the first file of an ingest."""
    global _default
    chosen = (engine or DEFAULT_ENGINE).strip().lower()
    if chosen not in ENGINES:
        raise IdentificationEngineError(f"unknown identification engine {engine!r}: choose one of {ENGINES}")
    signature = None
    if chosen == "siegfried" and siegfried_signature not in (None, ""):
        assert siegfried_signature is not None
        signature = str(Path(siegfried_signature).expanduser().resolve())
        from format_registry.siegfried import check_signature_file

        check_signature_file(Path(signature))
    _default = (chosen, signature)
    if load:
        shared_identifier()
    return _default


def _load(choice: Choice) -> Identifier:
    engine, signature = choice
    if engine == "fido":
        return FidoIdentifier()
    from format_registry.siegfried import SiegfriedIdentifier

    return SiegfriedIdentifier(signature)


def shared_identifier(
    engine: str | None = None, siegfried_signature: str | os.PathLike[str] | None = None
) -> Identifier:
    """The process's loaded engine for this choice (loaded on first use, then reused by every thread);
    inside :func:`isolated`, Siegfried's stand-in that runs it in a process of its own."""
    choice = resolve(engine, siegfried_signature)
    with _shared_lock:
        if _isolation_depth and choice[0] == "siegfried":
            stand_in = _isolated.get(choice)
            if stand_in is None:
                stand_in = _isolated[choice] = IsolatedIdentifier(choice)
            return stand_in
        identifier = _shared.get(choice)
        if identifier is None:
            identifier = _shared[choice] = _load(choice)
        return identifier


# -- Siegfried in a process of its own -------------------------------------------------------------------

ISOLATED_BATCH = 2000  # paths per message to the identification process: bounded messages, few round trips
_isolated: dict[Choice, IsolatedIdentifier] = {}
_isolation_depth = 0


@contextlib.contextmanager
def isolated() -> Any:
    """While open (nestable, from any thread), Siegfried identifies in one worker process of its own,
    started on first use and stopped when the outermost ``isolated()`` closes.

    Why: pygfried brings a Go runtime and the PRONOM signatures into the process that loads it, 180 to
    225 MB (measured: bench ``ingest_memory``) that the process never gives back, and a Go runtime does not
    survive ``fork``, which the validation pool uses. An ingest holds its file lists, events and
    inventories besides; with the engine in a worker (``python -m format_registry.identify_worker``: a fresh
    interpreter, never a fork of this one, nor a re-run of this process's ``__main__``, which under Airflow
    is the ``airflow`` script) the ingest process keeps only its own memory, and the engine's is returned
    when the worker stops. FIDO is Python and forks its own pool, so it stays in-process."""
    global _isolation_depth
    with _shared_lock:
        _isolation_depth += 1
    try:
        yield
    finally:
        with _shared_lock:
            _isolation_depth -= 1
            closing = list(_isolated.values()) if not _isolation_depth else []
            if closing:
                _isolated.clear()
        for stand_in in closing:
            stand_in.close()


def release_isolated() -> None:
    """Stop the identification worker(s) now, keeping isolation on: the next identification starts one
    again. An ingest calls this when its identify step is done, so the engine's memory is not held through
    validation, packaging and storage (only a conversion's output is identified after that)."""
    with _shared_lock:
        stand_ins = list(_isolated.values())
    for stand_in in stand_ins:
        stand_in.close()


ISOLATED_TIMEOUT = 900.0  # seconds for one batch of 2,000 files: a hung engine is killed, the step fails resumable


class IsolatedIdentifier(Identifier):
    """Siegfried's answers, computed in a worker process (see :func:`isolated` and
    ``format_registry/identify_worker.py``); same results, in order."""

    def __init__(self, choice: Choice) -> None:  # no libmagic here: the worker's engine has its own
        self._choice = choice
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._info: EngineInfo | None = None

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        import json
        import select
        import sys

        with self._lock:
            if self._process is None or self._process.poll() is not None:
                engine, signature = self._choice
                self._process = subprocess.Popen(  # an argument list, no shell; killed on timeout below
                    [sys.executable, "-m", "format_registry.identify_worker", engine, signature or "",
                     str(os.getpid())],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                    start_new_session=True)
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], ISOLATED_TIMEOUT)
            line = process.stdout.readline() if ready else ""
            if not line:
                self._stop(process)
                raise IdentificationEngineError(
                    "the identification worker stopped or did not answer within "
                    f"{ISOLATED_TIMEOUT:.0f} s / tiến trình nhận dạng định dạng không trả lời")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise IdentificationEngineError(f"identification worker: {answer['error']}")
        return answer

    @property
    def info(self) -> EngineInfo:  # type: ignore[override]
        if self._info is None:  # loads the engine: a bad signature file fails here
            self._info = EngineInfo(**self._call({"op": "info"})["info"])
        return self._info

    @property
    def tool(self) -> str:  # type: ignore[override]
        return self.info.tool

    def identify(self, path: Path | str) -> FormatIdentification:
        return self.identify_batch([path], 1)[0]

    def identify_batch(self, paths: Sequence[Path | str], workers: int) -> list[FormatIdentification]:
        results: list[FormatIdentification] = []
        for start in range(0, len(paths), ISOLATED_BATCH):
            part = [os.path.abspath(p) for p in paths[start:start + ISOLATED_BATCH]]
            for found in self._call({"op": "batch", "paths": part, "workers": workers})["results"]:
                found["candidates"] = tuple(found.get("candidates") or ())
                results.append(FormatIdentification(**found))
        return results

    @staticmethod
    def _stop(process: subprocess.Popen[str]) -> None:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    def close(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()  # the worker ends at the end of its input
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._stop(process)
            if process.stdout is not None:
                process.stdout.close()


def engine_info(engine: str | None = None, siegfried_signature: str | os.PathLike[str] | None = None) -> EngineInfo:
    """Name, version and signature version of the engine :func:`identify` uses (loads it if need be)."""
    return shared_identifier(engine, siegfried_signature).info


def identify(
    path: Path | str, *, engine: str | None = None, siegfried_signature: str | os.PathLike[str] | None = None
) -> FormatIdentification:
    return shared_identifier(engine, siegfried_signature).identify(path)


POOL_THRESHOLD = 500  # below this, starting worker processes costs more than it saves


def _identify_paths(paths: list[str], choice: Choice | None = None) -> list[FormatIdentification]:
    identifier = shared_identifier(*choice) if choice else shared_identifier()
    return [identifier.identify(path) for path in paths]


def identify_many(
    paths: Sequence[Path | str],
    workers: int | None = None,
    *,
    engine: str | None = None,
    siegfried_signature: str | os.PathLike[str] | None = None,
) -> list[FormatIdentification]:
    """Identify many files, across all cores when there are enough of them (results in input order).

    Siegfried works on several files at once inside this process (its own Go threads), so no worker
    process is started: a Go runtime does not survive ``fork``. FIDO is Python: its workers are forked
    from this process when it runs a single thread (they inherit the loaded signatures); otherwise (an
    Airflow task, a thread pool) they come from a ``forkserver`` and each loads the signatures once."""
    choice = resolve(engine, siegfried_signature)
    workers = workers or os.cpu_count() or 1
    identifier = shared_identifier(*choice)
    batch = identifier.identify_batch(paths, workers)
    if batch is not None:
        return batch
    if workers < 2 or len(paths) < POOL_THRESHOLD:
        return [identifier.identify(path) for path in paths]
    from concurrent.futures import ProcessPoolExecutor

    from format_registry.pool import worker_pool_kwargs

    chunk = max(64, len(paths) // (workers * 8))
    batches = [[str(p) for p in paths[i:i + chunk]] for i in range(0, len(paths), chunk)]
    method = "fork" if threading.active_count() == 1 else "forkserver"  # fork only with no other thread
    # workers die with this process (a kill -9 of an ingest must not leave them running)
    with ProcessPoolExecutor(max_workers=workers, **worker_pool_kwargs(method)) as pool:
        return [result for part in pool.map(_identify_paths, batches, [choice] * len(batches)) for result in part]

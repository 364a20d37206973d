"""Audio/video validation: ffprobe must parse the container, ffmpeg must decode every audio/video stream.

``ffprobe -v error -show_format -show_streams -of json`` failing, or finding no stream, makes the file
invalid; a clean probe makes it well-formed. A full decode (``ffmpeg -v error -i FILE -f null -``)
that reports errors makes it invalid too (a truncated or corrupted stream often probes fine). Both
runs share ``timeout`` and are killed with their process group when it expires; a decode cut short
leaves the probe's verdict. ffprobe is not a conformance checker, so for most formats "well-formed" is
the best verdict. WAVE (RIFF/RF64/BW64) and AIFF are simple enough to check completely: their chunk
structure is walked here (sizes against the file, chunk ids, one fmt/COMM before the data, PCM
block alignment), and a clean walk plus a clean decode makes them "valid".

Executables come from ``$KHO_FFPROBE``/``$KHO_FFMPEG`` or PATH; without ffprobe nothing is validated.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import struct
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import DEFAULT_TIMEOUT, VALID, WELL_FORMED, Message, ValidationResult, not_validated, status_from_messages
from ._proc import run_tool

MAX_TOOL_MESSAGES = 20
_CHUNK_ID = re.compile(rb"^[\x21-\x7e]{1,4} {0,3}$")
_STREAM_KEYS = (
    "index",
    "codec_type",
    "codec_name",
    "profile",
    "width",
    "height",
    "pix_fmt",
    "sample_rate",
    "channels",
    "channel_layout",
    "bits_per_sample",
    "bits_per_raw_sample",
    "duration",
    "bit_rate",
)


def find_tool(name: str) -> str | None:
    """ffprobe/ffmpeg from $KHO_FFPROBE/$KHO_FFMPEG (name or path), else PATH."""
    return shutil.which(os.environ.get(f"KHO_{name.upper()}") or name)


@lru_cache(maxsize=8)
@functools.lru_cache(maxsize=8)
def tool_version(executable: str) -> str:
    """``ffprobe -version``, asked once per process: a second subprocess per file was a third of the cost."""
    run = run_tool([executable, "-version"], 30)
    first = run.stdout.decode("utf-8", "replace").splitlines()[:1]
    found = re.search(r"version (\S+)", first[0]) if first else None
    return found.group(1) if found else "unknown"


def _stderr_messages(stderr: bytes, message_id: str, severity: str, target: str = "") -> list[Message]:
    text = stderr.decode("utf-8", "replace")
    if target:
        text = text.replace(target, Path(target.removeprefix("file:")).name)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    messages = [Message(message_id, severity, line) for line in lines[:MAX_TOOL_MESSAGES]]
    if len(lines) > MAX_TOOL_MESSAGES:
        messages.append(Message(message_id, "info", f"{len(lines) - MAX_TOOL_MESSAGES} more lines not shown"))
    return messages


def _walk_chunks(
    data_at: Any, start: int, end: int, size_of: Any, little: bool
) -> tuple[list[tuple[bytes, int, int]], list[Message]]:
    """(id, data offset, size) of each chunk between start and end, with structural errors."""
    chunks: list[tuple[bytes, int, int]] = []
    messages: list[Message] = []
    pos = start
    fmt = "<I" if little else ">I"
    while pos + 8 <= end:
        header = data_at(pos, 8)
        chunk_id = header[:4]
        size = size_of(chunk_id, struct.unpack(fmt, header[4:])[0])
        if not _CHUNK_ID.match(chunk_id):
            messages.append(Message("riff.chunk.id", "error", f"invalid chunk id {chunk_id!r}", pos))
            return chunks, messages
        if pos + 8 + size > end:
            messages.append(
                Message(
                    "riff.chunk.size",
                    "error",
                    f"chunk {chunk_id.decode('latin-1')!r} claims {size} bytes, {end - pos - 8} remain",
                    pos,
                )
            )
            return chunks, messages
        chunks.append((chunk_id, pos + 8, size))
        pos += 8 + size + (size & 1)
    if pos < end:
        messages.append(Message("riff.chunk.partial", "error", f"{end - pos} stray bytes after the last chunk", pos))
    return chunks, messages


def check_wave_aiff(path: Path) -> tuple[str | None, list[Message], dict[str, Any]]:
    """Walk a WAVE (RIFF/RF64/BW64) or AIFF/AIFC file's chunks; (profile or None, messages, details)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12:
            return None, [], {}

        def data_at(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
            return _check_wave(head, size, data_at)
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _check_aiff(head, size, data_at)
    return None, [], {}


def _declared_end(declared: int, size: int, messages: list[Message]) -> int:
    if declared > size:
        messages.append(Message("riff.truncated", "error", f"header declares {declared} bytes, file has {size}", size))
        return size
    if declared < size:
        messages.append(Message("riff.trailing", "warning", f"{size - declared} bytes after the main chunk", declared))
    return declared


def _check_wave(head: bytes, size: int, data_at: Any) -> tuple[str, list[Message], dict[str, Any]]:
    messages: list[Message] = []
    details: dict[str, Any] = {}
    kind = head[:4].decode("ascii")
    sizes64: dict[bytes, int] = {}
    riff_size = struct.unpack("<I", head[4:8])[0]
    if kind != "RIFF":
        first = data_at(12, 36)
        if first[:4] != b"ds64" or len(first) < 28:
            messages.append(Message("rf64.ds64", "error", f"{kind} file without a ds64 chunk first", 12))
            return "WAVE", messages, details
        riff64, data64 = struct.unpack("<QQ", first[8:24])
        sizes64[b"data"] = data64
        if riff_size == 0xFFFFFFFF:
            riff_size = riff64
    end = _declared_end(riff_size + 8, size, messages)

    def size_of(chunk_id: bytes, value: int) -> int:
        return sizes64.get(chunk_id, value) if value == 0xFFFFFFFF else value

    chunks, walk = _walk_chunks(data_at, 12, end, size_of, little=True)
    messages += walk
    ids = [c[0] for c in chunks]
    details["chunks"] = [c.decode("latin-1") for c in ids]
    for required in (b"fmt ", b"data"):
        count = ids.count(required)
        if count == 0 and not walk:
            messages.append(Message("wave.chunk.missing", "error", f"no {required.decode().strip()!r} chunk"))
        elif count > 1:
            messages.append(Message("wave.chunk.multiple", "error", f"{count} {required.decode().strip()!r} chunks"))
    if b"fmt " in ids and b"data" in ids and ids.index(b"fmt ") > ids.index(b"data"):
        messages.append(Message("wave.chunk.order", "warning", "fmt chunk after the data chunk"))
    fmt = next((c for c in chunks if c[0] == b"fmt "), None)
    data = next((c for c in chunks if c[0] == b"data"), None)
    if fmt is not None and fmt[2] >= 16:
        tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", data_at(fmt[1], 16))
        details.update(format_tag=tag, channels=channels, sample_rate=rate, bits_per_sample=bits, block_align=align)
        if tag in (1, 3, 0xFFFE) and channels and bits:
            expected_align = channels * ((bits + 7) // 8)
            if align != expected_align:
                messages.append(Message("wave.fmt", "warning", f"block align {align}, expected {expected_align}"))
            elif byte_rate != rate * align:
                messages.append(Message("wave.fmt", "warning", f"byte rate {byte_rate}, expected {rate * align}"))
            elif data is not None and align and data[2] % align:
                messages.append(Message("wave.data", "warning", f"data size {data[2]} is not a multiple of {align}"))
    elif fmt is not None:
        messages.append(Message("wave.fmt", "error", f"fmt chunk of {fmt[2]} bytes, at least 16 needed"))
    return "WAVE", messages, details


def _check_aiff(head: bytes, size: int, data_at: Any) -> tuple[str, list[Message], dict[str, Any]]:
    messages: list[Message] = []
    details: dict[str, Any] = {}
    end = _declared_end(struct.unpack(">I", head[4:8])[0] + 8, size, messages)
    chunks, walk = _walk_chunks(data_at, 12, end, lambda _id, value: value, little=False)
    messages += walk
    ids = [c[0] for c in chunks]
    details["chunks"] = [c.decode("latin-1") for c in ids]
    if ids.count(b"COMM") != 1 and not walk:
        messages.append(Message("aiff.comm", "error", f"{ids.count(b'COMM')} COMM chunks, exactly one required"))
    comm = next((c for c in chunks if c[0] == b"COMM"), None)
    if comm is not None and comm[2] >= 18:
        channels, frames, bits = struct.unpack(">hIh", data_at(comm[1], 8))
        details.update(channels=channels, sample_frames=frames, bits_per_sample=bits)
        if frames > 0 and b"SSND" not in ids and not walk:
            messages.append(Message("aiff.ssnd", "error", f"{frames} sample frames but no SSND chunk"))
    return head[8:12].decode("ascii"), messages, details


def _stream_details(probe: dict[str, Any]) -> dict[str, Any]:
    fmt = probe.get("format") or {}
    return {
        "format_name": fmt.get("format_name"),
        "format_long_name": fmt.get("format_long_name"),
        "duration": fmt.get("duration"),
        "bit_rate": fmt.get("bit_rate"),
        "streams": [{k: s[k] for k in _STREAM_KEYS if k in s} for s in probe.get("streams") or []],
    }


def validate_av(
    path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT, decode: bool = True
) -> ValidationResult:
    """Probe (and by default fully decode) one audio/video file within ``timeout`` seconds in total."""
    path = Path(path)
    ffprobe = find_tool("ffprobe")
    if ffprobe is None:
        return not_validated("not performed: ffprobe not found", validator="ffprobe")
    version = tool_version(ffprobe)
    target = f"file:{path.resolve()}"  # no protocol guessing from a colon in the name
    started = time.monotonic()
    run = run_tool([ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", target], timeout)
    if run.timed_out:
        return not_validated(
            f"not performed: ffprobe timed out after {timeout:g} s (killed)",
            validator="ffprobe",
            tool_version=version,
            message_id="ffprobe.timeout",
        )
    messages: list[Message] = []
    details: dict[str, Any] = {}
    try:
        probe = json.loads(run.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        probe = {}
    details.update(_stream_details(probe))
    module = details.get("format_name")
    if run.returncode != 0:
        messages += _stderr_messages(run.stderr, "ffprobe.error", "error", target) or [
            Message("ffprobe.error", "error", f"ffprobe exit status {run.returncode}")
        ]
    else:
        messages += _stderr_messages(run.stderr, "ffprobe.error", "warning", target)
        if not details["streams"]:
            messages.append(Message("ffprobe.streams", "error", "no audio or video streams found"))
    profile, structure, structure_details = check_wave_aiff(path)
    messages += structure
    details.update(structure_details)
    best = VALID if profile is not None else WELL_FORMED
    if not any(m.severity == "error" for m in messages) and decode:
        ffmpeg = find_tool("ffmpeg")
        remaining = timeout - (time.monotonic() - started)
        if ffmpeg is None:
            messages.append(Message("ffmpeg.missing", "info", "full decode not performed: ffmpeg not found"))
            best = WELL_FORMED
        elif remaining <= 0:
            messages.append(Message("ffmpeg.timeout", "info", "full decode not performed: no time left"))
            best = WELL_FORMED
        else:
            args = [
                ffmpeg,
                "-nostdin",
                "-hide_banner",
                "-v",
                "error",
                "-i",
                target,
                "-map",
                "0:v?",
                "-map",
                "0:a?",
                "-f",
                "null",
                "-",
            ]
            decoded = run_tool(args, remaining)
            if decoded.timed_out:
                messages.append(Message("ffmpeg.timeout", "info", f"full decode stopped after {remaining:.0f} s"))
                best = WELL_FORMED
            else:
                details["decoded"] = True
                messages += _stderr_messages(decoded.stderr, "ffmpeg.decode", "error", target)
                if decoded.returncode != 0 and not any(m.id == "ffmpeg.decode" for m in messages):
                    messages.append(Message("ffmpeg.decode", "error", f"ffmpeg exit status {decoded.returncode}"))
    elif not decode:
        best = WELL_FORMED
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, best), "ffprobe", version, profile or module, unique, details)

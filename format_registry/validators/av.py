"""Audio/video validation: uncompressed WAVE, AIFF and Sun AU by their structure, in-process; everything
else by ffprobe (the container must parse) and ffmpeg (every audio/video stream must decode).

:func:`validate_audio` takes WAVE (RIFF/RF64/BW64), AIFF/AIFC and Sun/NeXT AU. Their structure is walked
here: chunk sizes against the file, chunk ids, one fmt/COMM before the data, header fields, frame
alignment, sample data for every frame COMM declares, AU's data offset and size. When the payload is
uncompressed (PCM, IEEE float, G.711 µ-law/A-law) the walk alone gives the verdict, "valid" when clean
(linear PCM and float only: G.711 is a companding codec whose coded samples the container rules do not
cover, so a clean G.711 file is "well-formed") and "invalid" on a structural error, and no subprocess
runs: such samples have no bitstream a decoder
could fault (every byte pattern is a sample), so truncation and size mismatches, which are structural,
are all there is to find; JHOVE's WAVE and AIFF modules judge them the same way. Probing and decoding
cost ~130 ms per file and dominated ingest (docs/decisions/0005). A structural error also settles the
verdict in-process; only a clean file with a compressed payload (ADPCM, MP3-in-WAV, ...) is decoded.

:func:`validate_av`: ``ffprobe -v error -show_format -show_streams -of json`` failing, or finding no
stream, makes the file invalid; a clean probe makes it well-formed. A full decode (``ffmpeg -v error
-i FILE -f null -``) that reports errors makes it invalid too (a truncated or corrupted stream often
probes fine). Both runs share ``timeout`` and are killed with their process group when it expires; a
decode cut short leaves the probe's verdict. ffprobe is not a conformance checker, so for most formats
"well-formed" is the best verdict; for WAVE, AIFF and AU the structural walk is added, and a clean walk
plus a clean decode makes them "valid".

Executables come from ``$KHO_FFPROBE``/``$KHO_FFMPEG`` or PATH; without ffprobe only uncompressed
WAVE, AIFF and AU files are validated.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import struct
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from format_registry import settings as registry_settings
from format_registry import toolrun

from .results import DEFAULT_TIMEOUT, VALID, WELL_FORMED, Message, ValidationResult, not_validated, status_from_messages

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
# In-process verdicts name the structure that was checked.
_VALIDATORS = {"WAVE": "kho-riff", "AIFF": "kho-aiff", "AIFC": "kho-aiff", "AU": "kho-au"}
# WAVE_FORMAT_EXTENSIBLE's SubFormat is a format tag in the first 4 bytes of this GUID (KSDATAFORMAT_SUBTYPE_*).
_GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# AIFC compression types whose samples are stored as they are: bytes per sample (None: from COMM's sampleSize).
_AIFC_UNCOMPRESSED: dict[bytes, tuple[int | None, str]] = {
    b"NONE": (None, "PCM"),
    b"twos": (None, "PCM"),
    b"sowt": (None, "PCM, little-endian"),
    b"raw ": (None, "PCM, offset binary"),
    b"in24": (3, "PCM"),
    b"in32": (4, "PCM"),
    b"fl32": (4, "IEEE float"),
    b"FL32": (4, "IEEE float"),
    b"fl64": (8, "IEEE float"),
    b"FL64": (8, "IEEE float"),
    b"ulaw": (1, "G.711 mu-law"),
    b"ULAW": (1, "G.711 mu-law"),
    b"alaw": (1, "G.711 A-law"),
    b"ALAW": (1, "G.711 A-law"),
}
# Sun/NeXT AU encodings with one fixed-size code word per sample: (bytes per sample, name).
_AU_UNCOMPRESSED = {
    1: (1, "G.711 mu-law"),
    2: (1, "PCM"),
    3: (2, "PCM"),
    4: (3, "PCM"),
    5: (4, "PCM"),
    6: (4, "IEEE float"),
    7: (8, "IEEE float"),
    27: (1, "G.711 A-law"),
}


@functools.cache
def kho_version() -> str:
    """The tool version of Kho's in-process checks: Kho's own release."""
    try:
        return package_version("kho")
    except PackageNotFoundError:
        return "1"


def find_tool(name: str) -> str | None:
    """ffprobe/ffmpeg from $KHO_FFPROBE/$KHO_FFMPEG (name or path), else PATH."""
    return shutil.which(registry_settings.value(name) or name)


def _ffmpeg_version(run: toolrun.ToolResult) -> str:
    """"4.4.2" from ``ffprobe version 4.4.2-0ubuntu...``, the first line of ``-version``."""
    first = run.stdout_text().splitlines()[:1]
    found = re.search(r"version (\S+)", first[0]) if first else None
    return found.group(1) if found else ""


def ffmpeg_version(executable: str) -> str:
    """``ffprobe -version``, asked once per process (``toolrun.version``): a second subprocess per file
    was a third of the cost."""
    return toolrun.version(executable, (("-version",),), _ffmpeg_version)


def _stderr_messages(stderr: bytes, message_id: str, severity: str, target: str = "") -> list[Message]:
    text = stderr.decode("utf-8", "replace")
    if target:
        text = text.replace(target, Path(target.removeprefix("file:")).name)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    messages = [Message(message_id, severity, line) for line in lines[:MAX_TOOL_MESSAGES]]
    if len(lines) > MAX_TOOL_MESSAGES:
        messages.append(Message(message_id, "info", f"{len(lines) - MAX_TOOL_MESSAGES} more lines not shown"))
    return messages


@dataclass
class Structure:
    """What the structural walk of a WAVE, AIFF/AIFC or Sun AU file found."""

    profile: str  # WAVE, AIFF, AIFC or AU
    messages: list[Message] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    uncompressed: bool = False  # samples stored as they are (PCM, float, G.711): the walk is the whole check

    @property
    def validator(self) -> str:
        return _VALIDATORS[self.profile]


def check_structure(path: Path) -> Structure | None:
    """Walk a WAVE (RIFF/RF64/BW64), AIFF/AIFC or Sun AU file's structure; None for any other file."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)

        def data_at(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        if head[:4] == b".snd":
            return _check_au(size, data_at)
        if len(head) < 12:
            return None
        if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
            return _check_wave(head, size, data_at)
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _check_aiff(head, size, data_at)
    return None


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


def _declared_end(declared: int, size: int, messages: list[Message]) -> int:
    """Where the outer RIFF/FORM chunk ends. Bytes after it are a warning when they could be another
    chunk; fewer than a chunk header (apart from the outer chunk's pad byte) are damage, an error."""
    if declared > size:
        messages.append(Message("riff.truncated", "error", f"header declares {declared} bytes, file has {size}", size))
        return size
    extra = size - declared
    if extra == 1 and declared & 1:
        return declared  # the pad byte of an odd-sized outer chunk
    if 0 < extra < 8:
        text = f"{extra} stray bytes after the main chunk, too few for a chunk"
        messages.append(Message("riff.trailing", "error", text, declared))
    elif extra:
        messages.append(Message("riff.trailing", "warning", f"{extra} bytes after the main chunk", declared))
    return declared


def _wave_encoding(codec: int | None, bits: int) -> str | None:
    """The name of an uncompressed WAVE sample encoding; None for compressed (or implausible) ones."""
    if codec == 1 and 8 <= bits <= 32:
        return "PCM"
    if codec == 3 and bits in (32, 64):
        return "IEEE float"
    if codec in (6, 7) and bits == 8:
        return "G.711 A-law" if codec == 6 else "G.711 mu-law"
    return None


def _extensible_codec(raw: bytes, bits: int, messages: list[Message], details: dict[str, Any]) -> int | None:
    """The format tag in WAVE_FORMAT_EXTENSIBLE's SubFormat GUID; None when missing or not a tag GUID."""
    if len(raw) < 40 or struct.unpack("<H", raw[16:18])[0] < 22:
        messages.append(Message("wave.fmt", "warning", "WAVE_FORMAT_EXTENSIBLE without its 22-byte extension"))
        return None
    valid_bits, mask = struct.unpack("<HI", raw[18:24])
    details.update(valid_bits_per_sample=valid_bits, channel_mask=mask)
    if valid_bits > bits:
        messages.append(Message("wave.fmt", "warning", f"{valid_bits} valid bits in {bits}-bit samples"))
    if raw[28:40] != _GUID_TAIL:
        details["sub_format"] = raw[24:40].hex()
        return None
    codec: int = struct.unpack("<I", raw[24:28])[0]
    details["sub_format"] = codec
    return codec


def _check_wave(head: bytes, size: int, data_at: Any) -> Structure:
    found = Structure("WAVE")
    messages, details = found.messages, found.details
    kind = head[:4].decode("ascii")
    sizes64: dict[bytes, int] = {}
    riff_size = struct.unpack("<I", head[4:8])[0]
    if kind != "RIFF":
        first = data_at(12, 36)
        if first[:4] != b"ds64" or len(first) < 28:
            messages.append(Message("rf64.ds64", "error", f"{kind} file without a ds64 chunk first", 12))
            return found
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
        raw = data_at(fmt[1], min(fmt[2], 40))
        tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", raw[:16])
        details.update(format_tag=tag, channels=channels, sample_rate=rate, bits_per_sample=bits, block_align=align)
        codec = _extensible_codec(raw, bits, messages, details) if tag == 0xFFFE else tag
        encoding = _wave_encoding(codec, bits)
        if (encoding is not None or tag in (1, 3, 0xFFFE)) and channels and bits:
            expected_align = channels * ((bits + 7) // 8)
            if align != expected_align:
                messages.append(Message("wave.fmt", "warning", f"block align {align}, expected {expected_align}"))
            elif byte_rate != rate * align:
                messages.append(Message("wave.fmt", "warning", f"byte rate {byte_rate}, expected {rate * align}"))
            if data is not None and data[2] % expected_align:
                text = f"data size {data[2]} is not a multiple of the {expected_align}-byte frame"
                messages.append(Message("wave.data", "warning", text))
        if encoding is not None:
            found.uncompressed = True
            details["encoding"] = encoding
            if not channels or not rate:
                messages.append(Message("wave.fmt", "error", f"{channels} channels at {rate} Hz"))
            elif data is not None:
                details["duration"] = round(data[2] / (rate * channels * ((bits + 7) // 8)), 6)
    elif fmt is not None:
        messages.append(Message("wave.fmt", "error", f"fmt chunk of {fmt[2]} bytes, at least 16 needed"))
    return found


def _extended(raw: bytes) -> float:
    """An 80-bit IEEE 754 extended float (AIFF's sample rate); NaN for the reserved exponent."""
    exponent, mantissa = struct.unpack(">HQ", raw)
    sign = -1.0 if exponent & 0x8000 else 1.0
    exponent &= 0x7FFF
    if exponent == 0x7FFF:
        return math.nan
    try:
        return sign * math.ldexp(mantissa, exponent - 16383 - 63)
    except OverflowError:
        return sign * math.inf


def _check_aiff(head: bytes, size: int, data_at: Any) -> Structure:
    found = Structure(head[8:12].decode("ascii"))
    messages, details = found.messages, found.details
    aifc = found.profile == "AIFC"
    end = _declared_end(struct.unpack(">I", head[4:8])[0] + 8, size, messages)
    chunks, walk = _walk_chunks(data_at, 12, end, lambda _id, value: value, little=False)
    messages += walk
    ids = [c[0] for c in chunks]
    details["chunks"] = [c.decode("latin-1") for c in ids]
    if ids.count(b"COMM") != 1 and not walk:
        messages.append(Message("aiff.comm", "error", f"{ids.count(b'COMM')} COMM chunks, exactly one required"))
    if ids.count(b"SSND") > 1:
        messages.append(Message("aiff.ssnd", "error", f"{ids.count(b'SSND')} SSND chunks, at most one allowed"))
    if aifc and b"FVER" not in ids and not walk:
        messages.append(Message("aifc.fver", "warning", "no FVER chunk, which AIFF-C requires"))
    comm = next((c for c in chunks if c[0] == b"COMM"), None)
    ssnd = next((c for c in chunks if c[0] == b"SSND"), None)
    needed = 22 if aifc else 18
    if comm is None:
        return found
    if comm[2] < needed:
        messages.append(Message("aiff.comm", "error", f"COMM chunk of {comm[2]} bytes, at least {needed} needed"))
        return found
    raw = data_at(comm[1], needed)
    channels, frames, bits = struct.unpack(">hIh", raw[:8])
    rate = _extended(raw[8:18])
    compression = raw[18:22] if aifc else b"NONE"
    rate_ok = math.isfinite(rate) and rate > 0
    details.update(
        channels=channels,
        sample_frames=frames,
        bits_per_sample=bits,
        sample_rate=(int(rate) if rate.is_integer() else rate) if rate_ok else None,
    )
    if aifc:
        details["compression_type"] = compression.decode("latin-1")
    if frames > 0 and ssnd is None and not walk:
        messages.append(Message("aiff.ssnd", "error", f"{frames} sample frames but no SSND chunk"))
    if compression not in _AIFC_UNCOMPRESSED:
        return found
    width, encoding = _AIFC_UNCOMPRESSED[compression]
    found.uncompressed = True
    details["encoding"] = encoding
    if width is None:
        if not 1 <= bits <= 32:
            messages.append(Message("aiff.comm", "error", f"sample size of {bits} bits, 1 to 32 allowed"))
            return found
        width = (bits + 7) // 8
    if channels < 1 or not rate_ok:
        messages.append(Message("aiff.comm", "error", f"{channels} channels at {rate:g} Hz"))
        return found
    if math.isfinite(frames / rate):
        details["duration"] = round(frames / rate, 6)
    if ssnd is not None and ssnd[2] < 8:
        messages.append(Message("aiff.ssnd", "error", f"SSND chunk of {ssnd[2]} bytes, at least 8 needed"))
    elif ssnd is not None:
        available = ssnd[2] - 8 - struct.unpack(">I", data_at(ssnd[1], 4))[0]
        need = frames * channels * width
        if available < need:
            text = f"SSND holds {max(available, 0)} bytes of samples, {frames} sample frames need {need}"
            messages.append(Message("aiff.ssnd", "error", text, ssnd[1] - 8))
        elif available > need:
            text = f"{available - need} bytes in SSND after the last sample frame"
            messages.append(Message("aiff.ssnd", "warning", text, ssnd[1] - 8))
    return found


def _check_au(size: int, data_at: Any) -> Structure:
    """Sun/NeXT AU: a 24-byte big-endian header (magic, data offset, data size, encoding, rate, channels)."""
    found = Structure("AU")
    messages, details = found.messages, found.details
    header = data_at(0, 24)
    if len(header) < 24:
        messages.append(Message("au.header", "error", f"file of {size} bytes, the header alone needs 24"))
        return found
    offset, length, encoding, rate, channels = struct.unpack(">5I", header[4:])
    details.update(au_encoding=encoding, sample_rate=rate, channels=channels, data_offset=offset)
    if offset < 24:
        messages.append(Message("au.header", "error", f"data offset {offset}, at least 24 required", 4))
        return found
    if offset > size:
        messages.append(Message("au.truncated", "error", f"data offset {offset} beyond the end of the file", 4))
        return found
    available = size - offset
    if length == 0xFFFFFFFF:
        messages.append(Message("au.size", "info", "data size not stated: the data runs to the end of the file", 8))
        length = available
    elif length > available:
        text = f"header declares {length} data bytes, {available} follow the header"
        messages.append(Message("au.truncated", "error", text, size))
        length = available
    elif length < available:
        text = f"{available - length} bytes after the data"
        messages.append(Message("au.trailing", "warning", text, offset + length))
    if not channels or not rate:
        messages.append(Message("au.header", "error", f"{channels} channels at {rate} Hz", 16))
    if encoding not in _AU_UNCOMPRESSED:
        return found
    width, name = _AU_UNCOMPRESSED[encoding]
    found.uncompressed = True
    details.update(encoding=name, bits_per_sample=8 * width)
    if channels and rate:
        frame = channels * width
        if length % frame:
            text = f"data size {length} is not a multiple of the {frame}-byte frame"
            messages.append(Message("au.data", "warning", text))
        details["duration"] = round(length / (frame * rate), 6)
    return found


def validate_audio(path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT) -> ValidationResult:
    """WAVE, AIFF/AIFC or Sun AU: the structural walk's verdict when it settles the matter, else ffprobe's.

    An uncompressed payload leaves a decoder nothing to find that the walk has not, and a structural
    error makes a file invalid whatever a decoder says, so both are judged here, without a subprocess.
    A clean file with a compressed payload, or a file that is none of these formats after all, goes to
    :func:`validate_av` for a probe and a full decode.
    """
    path = Path(path)
    found = check_structure(path)
    if found is None or not (found.uncompressed or any(m.severity == "error" for m in found.messages)):
        return validate_av(path, timeout=timeout)
    best = VALID
    if str(found.details.get("encoding", "")).startswith("G.711"):
        best = WELL_FORMED
        found.messages.append(
            Message("audio.g711", "info", f"{found.details['encoding']}: companded samples, structure checked")
        )
    messages = tuple(dict.fromkeys(found.messages))
    return ValidationResult(
        status_from_messages(messages, best),
        found.validator,
        kho_version(),
        found.profile,
        messages,
        {**found.details, "decoded": False},
    )


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
    version = ffmpeg_version(ffprobe)
    target = f"file:{path.resolve()}"  # no protocol guessing from a colon in the name
    started = time.monotonic()
    run = toolrun.run([ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", target], timeout=timeout)
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
    structure = check_structure(path)
    if structure is not None:
        messages += structure.messages
        details.update(structure.details)
        module = structure.profile
    best = VALID if structure is not None else WELL_FORMED
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
            decoded = toolrun.run(args, timeout=remaining)
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
    return ValidationResult(status_from_messages(unique, best), "ffprobe", version, module, unique, details)

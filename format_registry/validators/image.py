"""Raster image validation with Pillow: ``verify()`` on one open, a full decode of every frame on another.

``verify()`` checks structure (PNG chunk CRCs, for instance) without decoding, and leaves the image
unusable, hence the second open for ``load()``; truncated data must fail, so
``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off. Pillow's warnings (corrupt EXIF, bad metadata)
keep a file from being valid. Images above Pillow's decompression-bomb limit are not decoded and are
reported as not validated. Exceptions that mean "Pillow cannot do this" (an unsupported TIFF
compression, a missing codec) give ``not-validated`` rather than a false ``invalid``.

Small structural checks Pillow does not make: GIF block structure (Pillow cannot open a GIF without
raster data at all), PNG ending in IEND, TIFF baseline tags and the deprecated old-style JPEG
compression (TIFF 6.0 section 22, which JHOVE also reports as not valid), a walk of every TIFF IFD
entry (sorted tags, known types, no empty values, values inside the file), and Exif metadata in JPEG
and TIFF (the version fields are four ASCII digits, as Exif 2.x prescribes).

Only JPEG, PNG, GIF and TIFF, where these checks add up to the format's rules, can be "valid". For
every other format Pillow opens (BMP, ICO, WebP, TGA, PCX ...) a clean decode is "well-formed": a
decoder accepts files that its format forbids (a BMP variant no archive tool supports, an icon whose
directory lies), and Kho has no validator for them.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path
from typing import Any

from .results import VALID, WELL_FORMED, Message, ValidationResult, not_validated, status_from_messages

MAX_FRAMES_DECODED = 1000
MAX_GIF_WALKED = 256 * 1024 * 1024

# Pillow format names acceptable for each declared MIME type (MPO is a JPEG with extra pictures).
_FORMATS_FOR_MIME = {
    "image/jpeg": {"JPEG", "MPO"},
    "image/pjpeg": {"JPEG", "MPO"},
    "image/png": {"PNG"},
    "image/apng": {"PNG"},
    "image/vnd.mozilla.apng": {"PNG"},
    "image/gif": {"GIF"},
    "image/tiff": {"TIFF"},
    "image/bmp": {"BMP", "DIB"},
    "image/x-bmp": {"BMP", "DIB"},
    "image/x-ms-bmp": {"BMP", "DIB"},
    "image/webp": {"WEBP"},
    "image/vnd.microsoft.icon": {"ICO"},
    "image/x-icon": {"ICO"},
    "image/jpx": {"JPEG2000"},
    "image/x-tga": {"TGA"},
    "image/x-targa": {"TGA"},
}
# Formats whose structure Kho checks beyond Pillow's decode; any other decodes to "well-formed" at best.
_VALIDATED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "TIFF"})
_EXIF_IFD, _INTEROP_IFD = 0x8769, 0xA005
_EXIF_VERSION_TAGS = {0x9000: "ExifVersion", 0xA000: "FlashpixVersion"}
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
MAX_IFDS = 64
MAX_TIFF_WALKED = 1024 * 1024 * 1024
# Exceptions that mean Pillow lacks support, not that the file is broken.
_UNSUPPORTED = (KeyError, NotImplementedError)
_UNSUPPORTED_TEXT = ("not available", "cannot find loader", "unsupported", "not supported")

_TIFF_COMPRESSION = {
    1: "none",
    2: "CCITT RLE",
    3: "CCITT T.4",
    4: "CCITT T.6",
    5: "LZW",
    6: "old-style JPEG",
    7: "JPEG",
    8: "Deflate",
    32773: "PackBits",
    32946: "Deflate (legacy)",
    34712: "JPEG 2000",
}
_TIFF_PHOTOMETRIC = {
    0: "WhiteIsZero",
    1: "BlackIsZero",
    2: "RGB",
    3: "Palette",
    4: "Mask",
    5: "CMYK",
    6: "YCbCr",
    8: "CIELab",
    9: "ICCLab",
    10: "ITULab",
}
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _version() -> str:
    import PIL

    return str(PIL.__version__)


def _tiff_checks(image: Any, details: dict[str, Any]) -> list[Message]:
    tags = image.tag_v2
    compression = tags.get(259, 1)
    photometric = tags.get(262)
    details.update(
        compression=_TIFF_COMPRESSION.get(compression, str(compression)),
        compression_code=compression,
        photometric=_TIFF_PHOTOMETRIC.get(photometric, str(photometric)) if photometric is not None else None,
        bits_per_sample=list(tags.get(258, ())) if isinstance(tags.get(258), tuple) else tags.get(258),
        samples_per_pixel=tags.get(277),
        planar_configuration=tags.get(284),
        byte_order="little-endian" if getattr(image.tag_v2, "_endian", "<") == "<" else "big-endian",
    )
    messages = []
    required = {256: "ImageWidth", 257: "ImageLength", 262: "PhotometricInterpretation"}
    for tag, name in required.items():
        if tag not in tags:
            messages.append(Message("tiff.tag.missing", "warning", f"required baseline tag {name} ({tag}) missing"))
    if 273 not in tags and 324 not in tags:
        messages.append(Message("tiff.tag.missing", "warning", "neither StripOffsets nor TileOffsets present"))
    if compression == 6:
        messages.append(
            Message("tiff.compression.ojpeg", "warning", "old-style JPEG compression (6) is deprecated (TIFF 6.0 s22)")
        )
    return messages


def walk_tiff(path: Path, size: int) -> list[Message]:
    """Every IFD of a classic TIFF: entries sorted by tag, of a known type, not empty, values inside the file.

    Pillow reads the tags it needs and skips the rest, so a directory with out-of-order tags, an unknown
    field type, an entry with no value or a value pointing past the end of the file still decodes.
    TIFF 6.0 section 2 forbids each of these; JHOVE's TIFF module reports them (TIFF-HUL-2, -3, -6).
    """
    if size > MAX_TIFF_WALKED:
        return [Message("tiff.walk.capped", "info", f"IFDs not walked above {MAX_TIFF_WALKED} bytes")]
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return []  # not a classic TIFF header: Pillow's verdict stands
    order = "<" if data[:2] == b"II" else ">"
    if struct.unpack(order + "H", data[2:4])[0] != 42:
        return []  # BigTIFF (43) and TIFF-based raw formats are beyond this walk
    messages: list[Message] = []
    offset = struct.unpack(order + "I", data[4:8])[0]
    seen: set[int] = set()
    number = 0
    while offset:
        number += 1
        if offset in seen or number > MAX_IFDS:
            messages.append(Message("tiff.ifd.loop", "error", f"IFD chain loops or exceeds {MAX_IFDS} IFDs", offset))
            break
        seen.add(offset)
        if offset + 2 > len(data):
            messages.append(Message("tiff.ifd.offset", "error", f"IFD {number} at {offset} is past the end", offset))
            break
        if offset % 2:
            messages.append(Message("tiff.ifd.align", "warning", f"IFD {number} at odd offset {offset}", offset))
        count = struct.unpack(order + "H", data[offset : offset + 2])[0]
        end = offset + 2 + 12 * count
        if end + 4 > len(data):
            messages.append(Message("tiff.ifd.truncated", "error", f"IFD {number} runs past the end", offset))
            break
        previous = -1
        for index in range(count):
            at = offset + 2 + 12 * index
            tag, kind, values = struct.unpack(order + "HHI", data[at : at + 8])
            if tag <= previous:
                messages.append(Message("tiff.tag.order", "warning", f"IFD {number}: tag {tag} out of sequence", at))
            previous = tag
            unit = _TIFF_TYPE_SIZES.get(kind)
            if unit is None:
                messages.append(Message("tiff.tag.type", "warning", f"IFD {number}: tag {tag} has type {kind}", at))
                continue
            if values == 0:
                messages.append(Message("tiff.tag.count", "warning", f"IFD {number}: tag {tag} has no value", at))
                continue
            length = unit * values
            if length > 4:
                where = struct.unpack(order + "I", data[at + 8 : at + 12])[0]
                if where + length > len(data):
                    text = f"IFD {number}: tag {tag} value ({length} bytes at {where}) is past the end"
                    messages.append(Message("tiff.tag.value", "error", text, at))
        offset = struct.unpack(order + "I", data[end : end + 4])[0]
    return messages


def _exif_checks(image: Any) -> list[Message]:
    """Exif version fields must be four ASCII digits ("0232"); an unreadable Exif block is reported."""
    try:
        exif = image.getexif()
        exif_ifd = exif.get_ifd(_EXIF_IFD) if _EXIF_IFD in exif else {}
        interop_ifd = exif_ifd.get_ifd(_INTEROP_IFD) if hasattr(exif_ifd, "get_ifd") else {}
        if not interop_ifd and _INTEROP_IFD in exif_ifd:
            interop_ifd = exif.get_ifd(_INTEROP_IFD)
    except Exception as exc:  # Pillow raises many types on damaged Exif
        return [Message("exif.unreadable", "warning", f"Exif metadata cannot be read ({type(exc).__name__}: {exc})")]
    fields = [(exif_ifd, tag, name) for tag, name in _EXIF_VERSION_TAGS.items()]
    fields.append((interop_ifd, 0x0002, "InteroperabilityVersion"))
    messages = []
    for ifd, tag, name in fields:
        value = ifd.get(tag) if ifd else None
        if value is None:
            continue
        raw = value if isinstance(value, bytes) else str(value).encode("latin-1", "replace")
        if len(raw) != 4 or not raw.isdigit():
            messages.append(Message("exif.version", "warning", f"Exif {name} is {raw!r}, not four ASCII digits"))
    return messages


def _png_checks(path: Path, size: int) -> list[Message]:
    with open(path, "rb") as fh:
        fh.seek(max(0, size - len(_PNG_IEND)))
        if fh.read() == _PNG_IEND:
            return []
        fh.seek(0)
        data = fh.read() if size <= 64 * 1024 * 1024 else b""
    if _PNG_IEND in data:
        return [Message("png.trailing", "warning", "data after the IEND chunk", data.rfind(_PNG_IEND) + 12)]
    return [Message("png.iend", "error", "no IEND chunk at the end of the file (truncated?)", size)]


def walk_gif(data: bytes) -> tuple[list[Message], int]:
    """GIF87a/89a block structure: header, screen descriptor, blocks, trailer. Returns messages, images."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return [Message("gif.header", "error", "no GIF87a/GIF89a header", 0)], 0
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 << (data[10] & 7))
    images = 0

    def sub_blocks(at: int) -> int:
        while at < len(data):
            length = data[at]
            if length == 0:
                return at + 1
            at += 1 + length
        return -1

    while pos < len(data):
        marker = data[pos]
        if marker == 0x3B:
            extra = len(data) - pos - 1
            trailing = [Message("gif.trailing", "warning", f"{extra} bytes after the trailer", pos + 1)]
            return (trailing if extra else []), images
        if marker == 0x21 and pos + 1 < len(data):
            pos = sub_blocks(pos + 2)
        elif marker == 0x2C and pos + 10 <= len(data):
            images += 1
            flags = data[pos + 9]
            pos += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
            pos = sub_blocks(pos + 1) if pos < len(data) else -1  # skip the LZW minimum code size byte
        else:
            return [Message("gif.block", "error", f"unknown block 0x{marker:02x}", pos)], images
        if pos < 0:
            break
    return [Message("gif.trailer", "error", "file ends before the GIF trailer (truncated)", len(data))], images


def _decode(path: Path, details: dict[str, Any]) -> list[Message]:
    """Full decode of every frame in a fresh open; raises what Pillow raises."""
    from PIL import Image

    with Image.open(path) as image:
        frames = getattr(image, "n_frames", 1)
        details["frames"] = frames
        for index in range(min(frames, MAX_FRAMES_DECODED)):
            image.seek(index)
            image.load()
    if frames > MAX_FRAMES_DECODED:
        return [Message("image.frames.capped", "info", f"decoded the first {MAX_FRAMES_DECODED} of {frames} frames")]
    return []


def validate_image(path: str | os.PathLike[str], *, mime: str | None = None) -> ValidationResult:
    """Validate one raster image; ``mime`` is the identified type, checked against what Pillow finds."""
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated image must fail, whatever the process set
    try:
        return _validate(Path(path), mime)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _validate(path: Path, mime: str | None) -> ValidationResult:
    from PIL import Image, UnidentifiedImageError

    size = path.stat().st_size
    base = (mime or "").split(";", 1)[0].strip().lower()
    details: dict[str, Any] = {}
    messages: list[Message] = []
    fmt: str | None = None

    def result(best: str) -> ValidationResult:
        unique = tuple(dict.fromkeys(messages))
        return ValidationResult(status_from_messages(unique, best), "pillow", _version(), fmt, unique, details)

    with open(path, "rb") as fh:
        head = fh.read(6)
    if (head in (b"GIF87a", b"GIF89a") or base == "image/gif") and size <= MAX_GIF_WALKED:
        data = path.read_bytes()
        gif_messages, images = walk_gif(data)
        messages += gif_messages
        details.update(gif_version=data[3:6].decode("ascii", "replace"), gif_images=images)
        if images == 0 and not any(m.severity == "error" for m in gif_messages):
            fmt = "GIF"
            details.update(width=int.from_bytes(data[6:8], "little"), height=int.from_bytes(data[8:10], "little"))
            messages.append(Message("gif.no-image", "info", "no image data to decode (structure checked)"))
            return result(VALID)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(path) as image:
                fmt = image.format
                details.update(format=fmt, width=image.width, height=image.height, mode=image.mode)
                dpi = image.info.get("dpi")
                if isinstance(dpi, tuple):
                    details["dpi"] = [float(v) for v in dpi]
                if fmt == "TIFF":
                    messages += _tiff_checks(image, details)
                    messages += walk_tiff(path, size)
                if fmt in ("JPEG", "MPO"):
                    details["progressive"] = bool(image.info.get("progressive") or image.info.get("progression"))
                if fmt in ("JPEG", "MPO", "TIFF"):
                    messages += _exif_checks(image)
                details["icc_profile"] = "icc_profile" in image.info
                image.verify()
            if fmt == "PNG":
                messages += _png_checks(path, size)
            messages += _decode(path, details)
        except Image.DecompressionBombError as exc:  # only the header was read: no verdict
            reason = f"not performed: image not decoded, beyond the decompression-bomb limit ({exc})"
            return not_validated(reason, validator="pillow", tool_version=_version(), module=fmt, details=details)
        except UnidentifiedImageError:
            messages.append(Message("image.unidentified", "error", f"Pillow cannot read it as {base or 'any image'}"))
            return result(VALID)
        except _UNSUPPORTED as exc:
            reason = f"not performed: Pillow cannot process this {fmt or base} ({type(exc).__name__}: {exc})"
            return not_validated(reason, validator="pillow", tool_version=_version(), module=fmt, details=details)
        except (OSError, SyntaxError, EOFError, ValueError, struct.error, IndexError, ZeroDivisionError) as exc:
            if any(t in str(exc).lower() for t in _UNSUPPORTED_TEXT):
                return not_validated(
                    f"not performed: Pillow cannot decode this {fmt or base} ({exc})",
                    validator="pillow",
                    tool_version=_version(),
                    module=fmt,
                    details=details,
                )
            messages.append(Message("image.decode", "error", f"{type(exc).__name__}: {exc}"))
            return result(VALID)
        except Exception as exc:  # an unexpected Pillow failure is no verdict on the file
            return not_validated(
                f"not performed: Pillow failed on this {fmt or base} ({type(exc).__name__}: {exc})",
                validator="pillow",
                tool_version=_version(),
                module=fmt,
                details=details,
            )
    for warning in caught:
        if issubclass(warning.category, Image.DecompressionBombWarning):
            continue
        messages.append(Message("image.warning", "warning", " ".join(str(warning.message).split())))
    expected = _FORMATS_FOR_MIME.get(base)
    if expected and fmt not in expected:
        messages.append(Message("image.format", "warning", f"file is {fmt}, identified as {base}"))
    if fmt not in _VALIDATED_FORMATS:
        messages.append(Message("image.scope", "info", f"{fmt}: decoded by Pillow; Kho has no validator for it"))
        return result(WELL_FORMED)
    return result(VALID)

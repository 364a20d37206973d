"""JPEG 2000 (JP2 part 1, or a raw codestream) validation with jpylyzer, plus a decode and an ICC sanity check.

jpylyzer validates the box structure and codestream headers against ISO/IEC 15444-1; each failed test
(an element whose text is ``False`` under ``tests``) becomes an error message named after its box path.
Two gaps are filled here: jpylyzer does not decode the entropy-coded data (a bit error inside a tile
passes), so the image is also decoded with Pillow/OpenJPEG when it is available; and jpylyzer does not
validate embedded ICC profiles (its README says so), so a tag table that cannot fit in the profile is
reported as a warning. jpylyzer prints "User warning" lines to stderr; they are captured and kept as
info messages.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .results import VALID, Message, ValidationResult, not_validated, status_from_messages


def _version() -> str:
    from jpylyzer import jpylyzer

    return str(jpylyzer.__version__)


def _failed_tests(element: Any, trail: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    for child in element:
        path = (*trail, child.tag)
        if len(child):
            yield from _failed_tests(child, path)
        elif (child.text or "").strip() == "False":
            yield child.tag, "/".join(path)


def _text(element: Any, path: str) -> str | None:
    found = element.find(path) if element is not None else None
    return found.text if found is not None and found.text else None


def _icc_messages(properties: Any) -> Iterator[Message]:
    """A profile's tag table (132-byte header + 12 bytes per tag) must fit in its declared size."""
    for icc in properties.iter("icc"):
        try:
            size = int(_text(icc, "profileSize") or "0")
        except ValueError:
            size = 0
        tags = [t.text or "" for t in icc.findall("tag")]
        garbled = sum(1 for t in tags if len(t) != 4 or not t.isprintable())
        if size and 132 + 12 * len(tags) > size:
            yield Message(
                "jp2.icc.corrupt",
                "warning",
                f"embedded ICC profile is corrupt: {len(tags)} tags cannot fit in a {size}-byte profile",
            )
        elif garbled:
            yield Message("jp2.icc.corrupt", "warning", f"embedded ICC profile has {garbled} malformed tag signatures")


def _details(root: Any, details: dict[str, Any]) -> None:
    properties = root.find("properties")
    header = properties.find("jp2HeaderBox/imageHeaderBox") if properties is not None else None
    siz = properties.find(".//siz") if properties is not None else None
    cod = properties.find(".//cod") if properties is not None else None
    for key, element, path in (
        ("width", siz, "xsiz"),
        ("height", siz, "ysiz"),
        ("components", siz, "csiz"),
        ("bits_per_component", header, "bPCDepth"),
        ("layers", cod, "layers"),
        ("levels", cod, "levels"),
        ("progression_order", cod, "order"),
        ("transformation", cod, "transformation"),
        ("colour_method", properties, "jp2HeaderBox/colourSpecificationBox/meth"),
        ("colour_space", properties, "jp2HeaderBox/colourSpecificationBox/enumCS"),
        ("brand", properties, "fileTypeBox/br"),
    ):
        value = _text(element, path)
        if value is not None:
            details[key] = int(value) if value.isdigit() else value.strip()
    if "transformation" in details:
        details["lossless"] = details["transformation"] == "5-3 reversible"


def _decode(path: Path) -> list[Message]:
    """Decode with Pillow (OpenJPEG); no verdict when Pillow lacks JPEG 2000 or the image is too big."""
    try:
        from PIL import Image, ImageFile, features
    except ImportError:
        return []
    if not features.check_codec("jpg_2000"):
        return [Message("jp2.decode.skipped", "info", "not decoded: Pillow has no JPEG 2000 codec")]
    previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(path) as image:
            image.load()
    except Image.DecompressionBombError as exc:
        return [Message("jp2.decode.skipped", "info", f"not decoded: {exc}")]
    except Exception as exc:  # OpenJPEG reports corrupt data as OSError, box errors as others
        return [Message("jp2.decode", "error", f"image data cannot be decoded: {type(exc).__name__}: {exc}")]
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return []


def validate_jp2(path: str | os.PathLike[str], *, codestream: bool = False, decode: bool = True) -> ValidationResult:
    """Validate a JP2 file, or a raw JPEG 2000 codestream with ``codestream=True``."""
    from jpylyzer import jpylyzer

    path = Path(path)
    profile = "j2c" if codestream else "jp2"
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        root = jpylyzer.checkOneFile(str(path), profile)
    details: dict[str, Any] = {"jpylyzer_profile": profile}
    messages: list[Message] = []
    success = (_text(root, "statusInfo/success") or "") == "True"
    for test, where in _failed_tests(root.find("tests")):
        messages.append(Message(f"jpylyzer.{test}", "error", f"{where} failed"))
    for warning in root.iter("warning"):
        if warning.text:
            messages.append(Message("jpylyzer.warning", "info", warning.text))
    properties = root.find("properties")
    if properties is not None:
        _details(root, details)
        messages += list(_icc_messages(properties))
    if decode:
        messages += _decode(path)
    is_valid = (_text(root, "isValid") or "") == "True"
    if not success:
        failure = _text(root, "statusInfo/failureMessage") or "jpylyzer failed"
        if not any(m.severity == "error" for m in messages):
            return not_validated(
                f"not performed: jpylyzer: {failure}",
                validator="jpylyzer",
                tool_version=_version(),
                module=profile,
                details=details,
            )
        messages.append(Message("jpylyzer.failure", "info", failure))
    elif not is_valid and not any(m.severity == "error" for m in messages):
        messages.append(Message("jpylyzer.invalid", "error", "jpylyzer: not a valid JP2"))
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, VALID), "jpylyzer", _version(), profile, unique, details)

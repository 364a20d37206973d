"""Format validation: JHOVE when it is installed, otherwise a built-in check per format family.

Every validator returns one :class:`ValidationResult` whose ``status`` is one of

* ``"valid"`` – a tool that understands the whole format checked the file against its rules and found
  no problem (never because the bytes merely decode: plain text, BMP or an unknown ZIP package is
  "well-formed" at best);
* ``"well-formed"`` – the file parses, but a tool found a rule violation, or the checks that were
  possible do not amount to validation (an XML file without a schema we hold, an EPUB's package
  but not its documents, an audio stream that decodes but has no conformance checker);
* ``"invalid"`` – the file does not parse as the format it claims to be (not well-formed);
* ``"not-validated"`` – no check was performed (no validator, tool missing, timeout, tool crash).

"valid" is never a default: it is only reported when a tool actually ran its checks. A validator
that cannot tell well-formed from broken must answer "well-formed" or "not-validated", never "valid".
Messages follow JHOVE's severities (``error`` makes a file invalid, ``warning`` keeps it from being
valid, ``info`` changes nothing).

:func:`validate_file` picks the validator: JHOVE (``$KHO_JHOVE`` or ``jhove`` on PATH) for the formats
it has a module for, else the built-in validator for the PUID/MIME type, else ``not-validated``.
Heavy libraries are imported only when their validator runs.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path

# The result types live in a leaf module (no cycle with the validators that build them); re-exported.
from .results import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from .results import INVALID as INVALID
from .results import NOT_VALIDATED as NOT_VALIDATED
from .results import SEVERITIES as SEVERITIES
from .results import STATUSES as STATUSES
from .results import VALID as VALID
from .results import WELL_FORMED as WELL_FORMED
from .results import Message as Message
from .results import ValidationResult as ValidationResult
from .results import not_validated as not_validated
from .results import status_from_messages as status_from_messages

# Built-in validators by format family. PUIDs take precedence over MIME types (a DNG is image/tiff to
# libmagic, but Pillow cannot decode it, so it is deliberately absent below).
_PDF_PUIDS = frozenset(
    {f"fmt/{n}" for n in (14, 15, 16, 17, 18, 19, 20, 276, 1129, 95, 354, 476, 477, 478, 479, 480, 481)}
    | {f"fmt/{n}" for n in (144, 145, 146, 147, 148, 157, 158, 488, 489, 490, 491, 492, 493)}
)
_IMAGE_PUIDS = frozenset(
    {f"fmt/{n}" for n in (41, 42, 43, 44, 112, 113, 645, 1507)}  # JPEG family
    | {"x-fmt/390", "x-fmt/391", "x-fmt/398"}
    | {"fmt/11", "fmt/12", "fmt/13", "fmt/935"}  # PNG, APNG
    | {"fmt/3", "fmt/4"}  # GIF
    | {"fmt/7", "fmt/8", "fmt/9", "fmt/10", "fmt/353", "fmt/154", "fmt/155", "x-fmt/387", "x-fmt/388", "x-fmt/399"}
    | {f"fmt/{n}" for n in (114, 115, 116, 117, 118, 119)}
    | {"x-fmt/270", "fmt/566", "fmt/567", "fmt/568", "x-fmt/418", "fmt/151", "x-fmt/367", "fmt/402"}
)
_JP2_PUIDS = frozenset({"x-fmt/392"})
_XML_PUIDS = frozenset(
    {"fmt/101", "fmt/1776", "fmt/102", "fmt/103", "fmt/91", "fmt/92", "fmt/244", "fmt/875", "x-fmt/280", "x-fmt/281"}
    | {"fmt/1474", "fmt/1475", "fmt/1476", "fmt/1477", "fmt/1047", "x-fmt/227", "fmt/896", "fmt/1209"}
    | {"fmt/120", "fmt/121"}
)
_CONTAINER_PUIDS: dict[str, str] = {
    "x-fmt/263": "zip",
    "fmt/483": "epub",
    **{f"fmt/{n}": "odf" for n in (135, 136, 137, 138, 139, 140, 290, 291, 292, 293, 294, 295, 296, 297)},
    **{f"fmt/{n}": "odf" for n in (424, 444, 1752, 1753, 1754, 1755, 1756)},
    **{f"fmt/{n}": "ooxml" for n in (189, 214, 215, 412, 445, 487, 523, 597, 598, 629, 631)},
    **{f"fmt/{n}": "siard" for n in (161, 995, 1196, 1777)},  # SIARD 1.0, 2.0, 2.1, 2.2
}
# WAVE, BWF, RF64, AIFF/AIFC, Sun AU: av.validate_audio judges uncompressed ones in-process.
_PCM_PUIDS = frozenset(
    {"fmt/1", "fmt/2", "fmt/6", "fmt/141", "fmt/142", "fmt/143", "fmt/527", "fmt/712", "fmt/713"}
    | {f"fmt/{n}" for n in range(703, 712)}
    | {"fmt/414", "x-fmt/135", "x-fmt/136"}  # AIFF, AIFC
    | {"x-fmt/139"}  # NeXT/Sun sound
)
_MIDI_PUIDS = frozenset({"x-fmt/230", "fmt/956"})  # Standard MIDI File, RIFF-based MIDI
_AV_PUIDS = frozenset(
    {"fmt/134", "fmt/198", "fmt/347", "x-fmt/279", "fmt/279", "fmt/132", "fmt/203", "fmt/946", "fmt/947"}
    | {"fmt/199", "x-fmt/384", "fmt/569", "fmt/573", "fmt/5", "fmt/133", "fmt/585", "x-fmt/385", "x-fmt/386"}
    | {"fmt/640", "fmt/649", "fmt/945", "x-fmt/152", "fmt/357", "x-fmt/382", "fmt/337"}
    | {f"fmt/{n}" for n in (200, 783, 784, 785, 786, 787, 788, 789, 790, 791)}  # MXF
)
_TEXT_PUIDS = frozenset(
    {"x-fmt/111", "x-fmt/16", "x-fmt/21", "x-fmt/22", "x-fmt/282", "x-fmt/283", "x-fmt/130", "x-fmt/14", "x-fmt/15"}
    | {"x-fmt/18", "x-fmt/13", "fmt/817", "fmt/880", "fmt/1367"}
)
_WARC_PUIDS = frozenset({"fmt/289", "fmt/1281", "fmt/1355"})  # WARC 0.17/0.18, 1.1, 1.0
_SPSS_PORTABLE_PUIDS = frozenset({"fmt/997"})
_NO_BUILTIN_PUIDS = frozenset({"fmt/152", "fmt/436", "fmt/438", "fmt/730", "fmt/153", "fmt/156", "fmt/463"})

_MIME_KIND: dict[str, str] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "image/jp2": "jp2",
    "image/j2c": "jp2",
    "image/x-jp2-codestream": "jp2",
    **dict.fromkeys(
        (
            "image/jpeg",
            "image/pjpeg",
            "image/png",
            "image/apng",
            "image/vnd.mozilla.apng",
            "image/gif",
            "image/tiff",
            "image/bmp",
            "image/x-bmp",
            "image/x-ms-bmp",
            "image/webp",
            "image/vnd.microsoft.icon",
            "image/x-icon",
            "image/jpx",
            "image/x-tga",
            "image/x-targa",
        ),
        "image",
    ),
    **dict.fromkeys(("application/xml", "text/xml", "text/x-opml", "application/xml-dtd"), "xml"),
    **dict.fromkeys(("application/zip", "application/x-zip-compressed", "application/epub+zip"), "container"),
    **dict.fromkeys(
        (
            "audio/wav",
            "audio/x-wav",
            "audio/wave",
            "audio/x-wave",
            "audio/vnd.wave",
            "audio/aiff",
            "audio/x-aiff",
            "audio/x-aifc",
            "audio/basic",
            "audio/x-au",
        ),
        "pcm",
    ),
    **dict.fromkeys(("audio/midi", "audio/x-midi", "audio/mid"), "midi"),
    "application/warc": "warc",
    "application/x-spss-por": "spss",
    "application/mxf": "av",
    "application/ogg": "av",
    "application/mp4": "av",
    **dict.fromkeys(
        (
            "text/plain",
            "text/csv",
            "text/tab-separated-values",
            "text/markdown",
            "text/vtt",
            "application/json",
            "application/ld+json",
            "application/geo+json",
        ),
        "text",
    ),
}
_KIND_MODULES = {"pcm": "av"}  # validator families that live in another family's module

_NO_BUILTIN_MIMES = frozenset(
    {
        "text/html",
        "text/rtf",
        "application/rtf",
        "image/jpm",
        "image/wmf",
        "image/x-wmf",
        "image/svg+xml-compressed",
        "audio/prs.sid",
        "audio/xm",
        "image/heif",
        "image/heic",
    }
)


def _base_mime(mime: str | None) -> str:
    return (mime or "").split(";", 1)[0].strip().lower()


def builtin_kind(puid: str | None, mime: str | None) -> str | None:
    """The built-in validator family for a PUID/MIME pair, or None if Kho has none for it."""
    puid = (puid or "").strip()
    if puid in _NO_BUILTIN_PUIDS:
        return None
    for kind, puids in (
        ("pdf", _PDF_PUIDS),
        ("jp2", _JP2_PUIDS),
        ("image", _IMAGE_PUIDS),
        ("xml", _XML_PUIDS),
        ("pcm", _PCM_PUIDS),
        ("midi", _MIDI_PUIDS),
        ("av", _AV_PUIDS),
        ("text", _TEXT_PUIDS),
        ("warc", _WARC_PUIDS),
        ("spss", _SPSS_PORTABLE_PUIDS),
    ):
        if puid in puids:
            return kind
    if puid in _CONTAINER_PUIDS:
        return "container"
    base = _base_mime(mime)
    if not base or base in _NO_BUILTIN_MIMES:
        return None
    if base in _MIME_KIND:
        return _MIME_KIND[base]
    if base.startswith(("application/vnd.oasis.opendocument.", "application/vnd.openxmlformats-officedocument.")):
        return "container"
    if base.startswith("application/vnd.ms-") and base.endswith("macroenabled.12"):
        return "container"
    if base.endswith("+xml"):
        return "xml"
    if base.startswith(("audio/", "video/")):
        return "av"
    if base.startswith("text/"):
        return "text"
    return None


def container_kind(puid: str | None, mime: str | None) -> str:
    """Which package rules apply to a ZIP-based file: zip, epub, odf or ooxml."""
    if puid and puid in _CONTAINER_PUIDS:
        return _CONTAINER_PUIDS[puid]
    base = _base_mime(mime)
    if base == "application/epub+zip":
        return "epub"
    if base.startswith("application/vnd.oasis.opendocument."):
        return "odf"
    if base.startswith(("application/vnd.openxmlformats-officedocument.", "application/vnd.ms-")):
        return "ooxml"
    return "zip"


def run_builtin(
    kind: str,
    path: Path,
    puid: str | None,
    mime: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    schema_catalog: Mapping[str, str | os.PathLike[str]] | None = None,
) -> ValidationResult:
    """Run one built-in validator family on a file (imports its library on first use)."""
    module = importlib.import_module(f"{__name__}.{_KIND_MODULES.get(kind, kind)}")
    if kind == "pdf":
        result: ValidationResult = module.validate_pdf(path)
    elif kind == "image":
        result = module.validate_image(path, mime=mime)
    elif kind == "jp2":
        codestream = _base_mime(mime) in ("image/j2c", "image/x-jp2-codestream")
        result = module.validate_jp2(path, codestream=codestream)
    elif kind == "xml":
        result = module.validate_xml(path, schema_catalog=schema_catalog)
    elif kind == "container":
        result = module.validate_container(path, kind=container_kind(puid, mime))
    elif kind == "av":
        result = module.validate_av(path, timeout=timeout)
    elif kind == "pcm":
        result = module.validate_audio(path, timeout=timeout)
    elif kind == "midi":
        result = module.validate_midi(path)
    elif kind == "text":
        result = module.validate_text(path, mime=mime, puid=puid)
    elif kind == "warc":
        result = module.validate_warc(path)
    elif kind == "spss":
        result = module.validate_spss_portable(path)
    else:
        raise ValueError(f"unknown validator family {kind!r}")
    return result


def validate_file(
    path: str | os.PathLike[str],
    puid: str | None,
    mime: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    use_jhove: bool = True,
    schema_catalog: Mapping[str, str | os.PathLike[str]] | None = None,
) -> ValidationResult:
    """Validate one file identified as ``puid``/``mime`` (either may be None).

    JHOVE is preferred when installed and it has a module for the format; if JHOVE cannot give a
    verdict (timeout, crash, status "Unknown") the built-in validator runs instead and the JHOVE
    failure is kept in ``details["jhove"]``. ``timeout`` bounds each external tool run; in-process
    validators are bounded by size caps (decompression-bomb and zip-bomb guards) instead.
    Raises FileNotFoundError for a missing path: that is a caller's fault, not a validation result.
    """
    from .jhove import find_jhove, module_for, validate_with_jhove

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    jhove_failure: ValidationResult | None = None
    jhove_module = module_for(puid, mime)
    jhove_path = find_jhove() if use_jhove else None
    if jhove_module and jhove_path:
        result = validate_with_jhove(path, jhove_module, executable=jhove_path, timeout=timeout)
        if result.status != NOT_VALIDATED:
            return result
        jhove_failure = result
    kind = builtin_kind(puid, mime)
    if kind is None:
        label = puid or _base_mime(mime) or "unidentified format"
        if jhove_failure is not None:
            return jhove_failure
        reason = f"not performed: no validator for {label}"
        if jhove_module and use_jhove and not jhove_path:
            reason += " (jhove not found)"
        return not_validated(reason, details={"puid": puid, "mime": mime})
    result = run_builtin(kind, path, puid, mime, timeout=timeout, schema_catalog=schema_catalog)
    if jhove_failure is not None:
        result.details["jhove"] = jhove_failure.messages[0].text if jhove_failure.messages else "no verdict"
    elif jhove_module and use_jhove and not jhove_path:
        result.details["jhove"] = "not found"
    return result


__all__ = [
    "DEFAULT_TIMEOUT",
    "INVALID",
    "NOT_VALIDATED",
    "SEVERITIES",
    "STATUSES",
    "VALID",
    "WELL_FORMED",
    "Message",
    "ValidationResult",
    "builtin_kind",
    "container_kind",
    "not_validated",
    "run_builtin",
    "status_from_messages",
    "validate_file",
]

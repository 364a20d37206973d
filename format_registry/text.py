"""The text of a record, for search: born-digital PDFs (their text layer), OOXML and ODF office files, plain
text (the OCR text ``kho digitise`` writes beside its PDF/A) and XML (decision 0029).

Every extractor is bounded: at most ``max_chars`` characters a file (:data:`MAX_FILE_CHARS`), ``pdftotext``
run as a subprocess with a timeout and a cap on its output (no shell), office files read member by member
with declared and actual sizes capped and a compression ratio limit (a zip bomb is refused, not inflated),
XML parsed with :mod:`format_registry.safexml` and refused when it declares entities. A file that cannot be
read (encrypted, truncated, not text) gives no text and a reason; nothing here raises for a bad file.
Text is Unicode NFC with control characters other than tab and newline removed.
"""

from __future__ import annotations

import codecs
import re
import shutil
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from format_registry import safexml, toolrun

MAX_FILE_CHARS = 1024 * 1024  # characters of text kept a file (a 400-page report is about 1 million)
MAX_AIP_CHARS = 8 * 1024 * 1024  # characters of text searched an AIP (the caller applies it)
PDF_TIMEOUT = 120.0  # seconds for pdftotext on one PDF
MAX_XML_BYTES = 64 * 1024 * 1024  # an XML record or an office file's part larger than this is not read
MAX_ZIP_TOTAL = 256 * 1024 * 1024  # uncompressed bytes read from one office file, all parts together
MAX_ZIP_MEMBERS = 10_000
MAX_RATIO = 200  # uncompressed / compressed of a part above 1 MiB; XML compresses 5-30 times
PLAIN_EXTENSIONS = {".txt", ".text", ".csv", ".tsv", ".md"}
XML_EXTENSIONS = {".xml"}
OOXML_PARTS = {
    "docx": re.compile(r"^word/(document|footnotes|endnotes|comments|header\d*|footer\d*)\.xml$"),
    "xlsx": re.compile(r"^xl/sharedStrings\.xml$"),
    "pptx": re.compile(r"^ppt/(slides/slide\d+|notesSlides/notesSlide\d+)\.xml$"),
}
BREAKS = {"p", "h", "br", "tab", "si", "row", "tr", "line-break", "cr"}  # local names ending a line or cell
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_TO_NL = str.maketrans({"\f": "\n", "\r": "\n", "\v": "\n"})


@dataclass(frozen=True)
class ExtractedText:
    """The text of one file (NFC, at most ``max_chars``), how it was read, and why there is none or it was
    cut (``reason``, English; empty when all of the text was read)."""

    text: str
    method: str  # pdftotext, ooxml-docx, ooxml-xlsx, ooxml-pptx, odf, plain, xml, or "" (not read)
    reason: str = ""
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "chars": len(self.text), "truncated": self.truncated, "reason": self.reason}


def none(reason: str, method: str = "") -> ExtractedText:
    return ExtractedText("", method, reason)


def normalise(raw: str, max_chars: int) -> tuple[str, bool]:
    """NFC, form feeds and carriage returns as newlines, other control characters dropped, trailing spaces
    of lines and runs of blank lines removed; cut to ``max_chars`` (True when cut)."""
    cleaned = _CONTROL.sub("", raw.replace("\r\n", "\n").translate(_CONTROL_TO_NL))
    lines = [line.rstrip() for line in cleaned.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    text = unicodedata.normalize("NFC", text)
    if len(text) > max_chars:
        return text[:max_chars], True
    return text, False


def _result(raw: str, method: str, max_chars: int, reason: str = "") -> ExtractedText:
    text, cut = normalise(raw, max_chars)
    if cut:
        reason = reason or f"text cut at {max_chars} characters"
    if not text and not reason:
        reason = "no text found"
    return ExtractedText(text, method, reason, cut)


def kind_of(path: Path, mime: str | None = None) -> str | None:
    """pdf, zip (an office file, told apart by its members), xml, plain; None: not a format read for text."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return None
    mime = (mime or "").lower()
    suffix = path.suffix.lower()
    # a PDF may have junk before its header (readers accept up to 1 KiB); a text file quoting "%PDF-" is text
    if head.startswith(b"%PDF-") or (b"%PDF-" in head and (mime == "application/pdf" or suffix == ".pdf")):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if suffix in XML_EXTENSIONS or mime in {"text/xml", "application/xml"} or mime.endswith("+xml"):
        return "xml"
    if suffix in PLAIN_EXTENSIONS or mime in {"text/plain", "text/csv"}:
        return "plain"
    return None


def extract_text(path: Path, *, mime: str | None = None, max_chars: int = MAX_FILE_CHARS,
                 timeout: float = PDF_TIMEOUT) -> ExtractedText:
    """The text of ``path``, by what its bytes say it is (``mime`` from identification helps for XML and
    text). Never raises for a file's content; an unreadable file gives no text and the reason."""
    kind = kind_of(path, mime)
    try:
        if kind == "pdf":
            return _pdf(path, max_chars, timeout)
        if kind == "zip":
            return _office(path, max_chars)
        if kind == "ole":
            return none("a legacy (OLE) or password-protected Office file: text not extracted")
        if kind == "xml":
            return _xml_file(path, max_chars)
        if kind == "plain":
            return _plain(path, max_chars)
    except OSError as exc:
        return none(f"could not be read: {exc}")
    except Exception as exc:  # a file's content must never fail an ingest; the reason is kept
        return none(f"text extraction failed ({type(exc).__name__}: {str(exc)[:200]})")
    return none("not a format text is extracted from")


# -- PDF -------------------------------------------------------------------------------------------


def _pdf(path: Path, max_chars: int, timeout: float) -> ExtractedText:
    program = shutil.which("pdftotext")
    if program is None:
        return none("pdftotext not found on PATH (install poppler-utils): text not extracted", "pdftotext")
    # -enc UTF-8 to stdout; the output is capped at 4 bytes a character (UTF-8's widest) and a margin
    result = toolrun.run([program, "-enc", "UTF-8", "-eol", "unix", str(path), "-"], timeout=timeout,
                         max_stdout=4 * max_chars + 4096)
    if result.timed_out:
        return none(f"pdftotext did not finish in {timeout:.0f} s", "pdftotext")
    if not result.ok:
        stderr = result.stderr_text().strip()
        if "password" in stderr.lower() or (result.returncode == 1 and "encrypt" in stderr.lower()):
            return none("the PDF is encrypted (a password is needed to read it)", "pdftotext")
        return none(f"pdftotext failed (exit {result.returncode}): the PDF could not be read"
                    + (f": {stderr[:200]}" if stderr else ""), "pdftotext")
    decoded = codecs.getincrementaldecoder("utf-8")("replace").decode(result.stdout, final=not
                                                                        result.stdout_truncated)
    extracted = _result(decoded, "pdftotext", max_chars)
    if not extracted.text:
        return none("no text layer (a scan without OCR, or drawings only)", "pdftotext")
    return extracted


# -- office files (OOXML, ODF) ---------------------------------------------------------------------


class _Refused(Exception):
    pass


def _office(path: Path, max_chars: int) -> ExtractedText:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                return none(f"more than {MAX_ZIP_MEMBERS} members: not read as an office file")
            names = {i.filename: i for i in infos}
            method, parts = _office_parts(archive, names)
            if not method:
                return none("a ZIP file that is not an OOXML or ODF office document")
            budget = [MAX_ZIP_TOTAL]
            chunks: list[str] = []
            size = 0
            for name in parts:
                data = _read_member(archive, names[name], budget)
                text = _xml_text(data)
                chunks.append(text)
                size += len(text)
                if size > max_chars:
                    break
            return _result("\n".join(chunks), method, max_chars)
    except _Refused as exc:
        return none(str(exc))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError,
            ValueError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method
        return none(f"the office file could not be read ({type(exc).__name__}: {str(exc)[:200]})")
    except etree.XMLSyntaxError as exc:
        return none(f"the office file's XML is not well-formed: {str(exc)[:200]}")


def _office_parts(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> tuple[str, list[str]]:
    if "mimetype" in names and "content.xml" in names:
        info = names["mimetype"]
        if info.file_size < 200:
            mimetype = archive.read(info).decode("ascii", "replace")
            if mimetype.startswith("application/vnd.oasis.opendocument."):
                return "odf", ["content.xml"]
    if "EncryptedPackage" in names:  # not a zip in practice (OLE), but be clear if it is
        return "", []
    for kind, pattern in OOXML_PARTS.items():
        parts = sorted((n for n in names if pattern.match(n)), key=_natural)
        if parts and any(n.startswith(("word/document", "xl/", "ppt/slides/")) for n in parts):
            if kind == "docx":  # the body first, then notes, headers and footers
                parts.sort(key=lambda n: (n != "word/document.xml", _natural(n)))
            return f"ooxml-{kind}", parts
    return "", []


def _natural(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """One part, refused when its declared size is too large or its ratio is a bomb's; read with a cap,
    since a declared size can lie."""
    limit = min(MAX_XML_BYTES, budget[0])
    if info.file_size > limit:
        raise _Refused(f"{info.filename} would inflate to {info.file_size} bytes (limit {limit}): "
                       "refused as a possible zip bomb")
    if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(1, info.compress_size):
        raise _Refused(f"{info.filename} is compressed {info.file_size // max(1, info.compress_size)} to 1 "
                       f"(limit {MAX_RATIO}): refused as a possible zip bomb")
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _Refused(f"{info.filename} inflates past {limit} bytes: refused as a possible zip bomb")
    budget[0] -= len(data)
    return data


# -- XML -------------------------------------------------------------------------------------------


def _xml_text(data: bytes) -> str:
    """The character data of an XML document, a newline after each paragraph-like element. Refused
    (:class:`_Refused`) when it declares entities or a DTD subset: Kho does not expand them."""
    if b"<!DOCTYPE" in data and b"<!ENTITY" in data:  # before parsing: libxml2 need not see a bomb at all
        raise _Refused("the XML declares entities (a DTD subset): not expanded, no text taken")
    tree = safexml.fromstring(data).getroottree()
    dtd = tree.docinfo.internalDTD
    if dtd is not None and list(dtd.iterentities()):  # declared in another encoding (UTF-16) than the test above
        raise _Refused("the XML declares entities (a DTD subset): not expanded, no text taken")
    out: list[str] = []
    for event, element in etree.iterwalk(tree.getroot(), events=("start", "end")):
        tag = element.tag
        if event == "start":
            if isinstance(tag, str) and element.text:
                out.append(element.text)
            continue
        if isinstance(tag, str):
            if etree.QName(element).localname in BREAKS:
                out.append("\n")
            elif etree.QName(element).localname in {"s", "c"} and not element.text:
                out.append(" ")  # ODF's text:s (spaces), a spreadsheet cell
        if element.tail:
            out.append(element.tail)
    return "".join(out)


def _xml_file(path: Path, max_chars: int) -> ExtractedText:
    if path.stat().st_size > MAX_XML_BYTES:
        return none(f"an XML file over {MAX_XML_BYTES} bytes: not read", "xml")
    data = path.read_bytes()
    try:
        return _result(_xml_text(data), "xml", max_chars)
    except _Refused as exc:
        return none(str(exc), "xml")
    except etree.XMLSyntaxError as exc:
        return none(f"the XML is not well-formed: {str(exc)[:200]}", "xml")


# -- plain text ------------------------------------------------------------------------------------


def _plain(path: Path, max_chars: int) -> ExtractedText:
    with path.open("rb") as handle:
        data = handle.read(4 * max_chars + 4)
        more = bool(handle.read(1))
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    if b"\x00" in data and encoding != "utf-16":
        return none("binary content, not text", "plain")
    try:
        decoded = codecs.getincrementaldecoder(encoding)("strict").decode(data, final=not more)
    except UnicodeDecodeError:
        return none("not UTF-8 or UTF-16 text (a legacy Vietnamese encoding such as TCVN3 is not read)", "plain")
    extracted = _result(decoded, "plain", max_chars)
    if more and not extracted.truncated:
        return ExtractedText(extracted.text, "plain", f"text cut at {max_chars} characters", True)
    return extracted

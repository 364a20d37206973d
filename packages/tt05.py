"""TT 05/2025/TT-BNV descriptive metadata of a hồ sơ (file/dossier) carried inside a BagIt SIP.

Thông tư 05/2025/TT-BNV (in force 01/07/2025, repeals TT 02/2019) describes a hồ sơ with 18 fields in
``EAD.xml`` and each of its text documents with 21 fields in ``EAD_doc`` files, inside an E-ARK package.
Kho receives BagIt bags, so this module fixes how a bag carries the same records.

Layout decision (tag files, outside ``data/``, all listed in the bag's ``tagmanifest-<alg>.txt``):

* XML form: ``metadata/EAD.xml`` is the hồ sơ, root ``<simpledc>`` with the 18 TT 05 elements, in
  any order (TT 05 uses ``xs:all``). ``metadata/EAD_doc/<n>.xml`` is one document each, root
  ``<simpledc file="data/...">`` with the 21 elements. The ``file`` attribute names the payload file the
  document describes; it stands in for the METS ``structMap`` link of the E-ARK package. A digitised
  document (confidenceLevel 02) laid out by ``kho digitise`` also describes its recognised text and master
  images beside its PDF/A (:func:`digitised_companions`).
* JSON form: ``metadata/hoso.json`` = ``{"hoso": {...18 fields...}, "documents": [{"file": "data/...",
  ...21 fields...}]}``. Values are the TT 05 texts (codes keep their leading zeros). The three Number
  fields may also be JSON integers.
* A bag carries one form. If both are present, the XML is read and the bag is refused.
* TT 02/2019 metadata is accepted in the same files. It uses the TT 02 tags (``FileCode``, ``Title``,
  ``Maintenance``, ``Rights``..., documents ``DocCode``, ``TypeName``, ``PageAmount``...). It is recognised
  because the hồ sơ record uses TT 02 tags and no TT 05 ones. It is converted with :func:`convert_tt02`,
  and the notes are kept for the PREMIS "metadata modification" event.

Rules (sources: TT 05 digest of Phụ lục III, the kssm seed data; see ../shared/reference/vn-archival-rules.md):

* Code lists: maintenance 01–07, mode 01–03, language 01–11 (one or more, ``01,02``),
  confidenceLevel 01–03, format 01–03, riskRecoveryStatus 01–02, typeName 01–32, Booleans ``0``/``1``.
* Conditional fields:
  - paperFileCode is required when confidenceLevel = 02 (số hóa);
  - riskRecoveryStatus is required when riskRecovery = 1;
  - a document's process is required when its confidenceLevel is 01 or 03.
* Dates are DD/MM/YYYY, real calendar dates, years 1000–9999. The AIP form also allows MM/YYYY and YYYY
  for the hồ sơ's startDate/endDate: pass ``allow_partial_dates=True``.
* Mã hồ sơ (fileCode) = mã định danh cơ quan . năm hình thành . số và ký hiệu hồ sơ (see
  :data:`FILE_CODE_PATTERN`). docCode = fileCode + ``.`` + 7-digit sequence (``H40.2024.01-VP.0000001``).

The JSON Schemas ``schemas/tt05-hoso.schema.json`` and ``schemas/tt05-document.schema.json``, and the XSD
``schemas/tt05.xsd``, are generated from the field tables below (``python -m packages.tt05 write-schemas``).
They express every single-field rule (presence, length, code list, structure, calendar-exact dates) and agree
with :func:`validate_metadata` on it. The JSON Schemas also express the three conditional fields (if/then);
XSD 1.0 cannot, so the XSD accepts their absence. Only Python checks the rules that span fields or files:
startDate ≤ endDate, totalDoc = number of documents, docCode starts with the fileCode, unique
docId/docCode/file, and that each document names a payload file. The XSD gives both records the TT 05
root ``simpledc``, so an instance picks its record type with ``xsi:type="HoSo"`` or ``xsi:type="TaiLieu"``.
The loader does not need this: it knows a record's type from where the record is.

XML is parsed without DTDs, entity expansion or network access, and any DOCTYPE is refused.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from lxml import etree

from format_registry import safexml
from packages import bagit_reader
from packages.problems import Problem

METADATA_DIR = "metadata"
EAD_XML = "metadata/EAD.xml"
EAD_DOC_DIR = "metadata/EAD_doc"
HOSO_JSON = "metadata/hoso.json"
# Bounds for callers that pass none (``packages.sip.validate_sip`` passes its ``max_tag_file_bytes`` and
# ``max_manifest_lines``, i.e. KHO_SIP_MAX_TAG_FILE_BYTES / KHO_SIP_MAX_MANIFEST_LINES). The defaults stay as
# generous as before so that re-reading metadata validation already accepted never refuses it.
MAX_METADATA_BYTES = 16 * 1024 * 1024  # one metadata file (hoso.json, EAD.xml, one EAD_doc file)
MAX_METADATA_FILES = 1_000_000  # EAD_doc files, and lines read from each tag manifest
TAG_MANIFEST_LINE_CHARS = 8192  # a metadata path is one short component under metadata/EAD_doc/
TT05 = "TT 05/2025"
TT02 = "TT 02/2019"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD_TYPE_HOSO = "HoSo"
XSD_TYPE_DOCUMENT = "TaiLieu"
SCHEMA_BASE = "https://kho.example/schemas/"

# --------------------------------------------------------------------------- #
# Code lists (TT 05/2025 Phụ lục III; labels as in the official tables)
# --------------------------------------------------------------------------- #
MAINTENANCE = {"01": "Vĩnh viễn", "02": "70 năm", "03": "50 năm", "04": "30 năm", "05": "20 năm",
               "06": "10 năm", "07": "Khác"}
MODE = {"01": "Công khai", "02": "Sử dụng có điều kiện", "03": "Mật"}
LANGUAGE = {"01": "Tiếng Việt", "02": "Tiếng Anh", "03": "Tiếng Pháp", "04": "Tiếng Nga", "05": "Tiếng Trung",
            "06": "Việt Anh", "07": "Việt Nga", "08": "Việt Pháp", "09": "Hán Nôm", "10": "Việt Trung",
            "11": "Khác"}
CONFIDENCE_LEVEL = {"01": "Gốc điện tử", "02": "Số hóa", "03": "Hỗn hợp"}
FORMAT = {"01": "Tốt", "02": "Bình thường", "03": "Hỏng"}
RISK_RECOVERY_STATUS = {"01": "Đã dự phòng", "02": "Chưa dự phòng"}
BOOLEAN = {"0": "Không", "1": "Có"}
TYPE_NAME = {
    "01": "Nghị quyết", "02": "Quyết định", "03": "Chỉ thị", "04": "Quy chế", "05": "Quy định", "06": "Thông cáo",
    "07": "Thông báo", "08": "Hướng dẫn", "09": "Chương trình", "10": "Kế hoạch", "11": "Phương án",
    "12": "Đề án", "13": "Dự án", "14": "Báo cáo", "15": "Tờ trình", "16": "Giấy ủy quyền", "17": "Phiếu gửi",
    "18": "Phiếu chuyển", "19": "Phiếu báo", "20": "Biên bản", "21": "Hợp đồng", "22": "Công văn",
    "23": "Công điện", "24": "Bản ghi nhớ", "25": "Bản thỏa thuận", "26": "Giấy mời", "27": "Giấy giới thiệu",
    "28": "Giấy nghỉ phép", "29": "Thư công", "30": "Bản đồ", "31": "Bản vẽ kỹ thuật", "32": "Khác",
}

# --------------------------------------------------------------------------- #
# Identifier and date structures. Each *_CORE is unanchored and uses only syntax shared by Python `re`,
# ECMA-262 (JSON Schema `pattern`) and XML Schema regular expressions (implicitly anchored), so the same
# text goes into the XSD, the JSON Schemas and the Python checks.
# --------------------------------------------------------------------------- #
#: Mã định danh cơ quan (QĐ 20/2020/QĐ-TTg): one level-1 code, a letter and two digits (G09 = Bộ Nội vụ,
#: H40 = a province). It may have numeric lower levels before it, as in the full 4-level form
#: ``000.00.00.G09``, or after it, as in ``H49.64.33``.
ORGAN_CORE = r"([0-9]{2,3}\.){0,3}[A-Z][0-9]{2}(\.[0-9]{2,3}){0,3}"
#: Năm hình thành hồ sơ, 1000–2099.
FILE_YEAR_CORE = r"(1[0-9]{3}|20[0-9]{2})"
#: Số và ký hiệu hồ sơ: letters/digits in runs joined by ``.`` or ``-`` (``01.TH``, ``01-VP``, ``160``).
#: No ``/``: the fileCode is also the stem of file names (TT 05 Điều 8.1.d).
FILE_NOTATION_CORE = r"[0-9A-Za-zĐđ]+([.\-][0-9A-Za-zĐđ]+)*"
FILE_CODE_CORE = ORGAN_CORE + r"\." + FILE_YEAR_CORE + r"\." + FILE_NOTATION_CORE
#: docCode = fileCode + "." + số thứ tự tài liệu trong hồ sơ, 7 digits (TT 05; the sample uses dots).
DOC_CODE_CORE = FILE_CODE_CORE + r"\.[0-9]{7}"
#: paperFileCode = [Mã cơ quan lưu trữ].[Số kho/giá/hộp].[Số hồ sơ giấy]. There is no official example, and
#: the archive code may itself contain dots, so the pattern only requires three or more dot-separated
#: segments of letters/digits (with ``-`` or ``_`` inside a segment): ``TTLT-HT.K02-G15-H03.125``.
PAPER_FILE_CODE_CORE = r"[0-9A-Za-zĐđ]+([\-_][0-9A-Za-zĐđ]+)*(\.[0-9A-Za-zĐđ]+([\-_][0-9A-Za-zĐđ]+)*){2,}"
_DAY_MONTH = r"(0[1-9]|1[0-9]|2[0-8])/(0[1-9]|1[0-2])|(29|30)/(0[13-9]|1[0-2])|31/(0[13578]|1[02])"
_LEAP_YEAR = r"[1-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00"
#: DD/MM/YYYY, calendar-exact (29/02 only in leap years), years 1000–9999.
DATE_CORE = rf"(({_DAY_MONTH})/[1-9][0-9]{{3}}|29/02/({_LEAP_YEAR}))"
MONTH_YEAR_CORE = r"(0[1-9]|1[0-2])/[1-9][0-9]{3}"
YEAR_CORE = r"[1-9][0-9]{3}"
FILE_PATH_CORE = r"data/[\s\S]+"

FILE_CODE_PATTERN = re.compile(FILE_CODE_CORE)
_FILE_CODE_PARTS = re.compile(
    rf"(?P<organ>{ORGAN_CORE})\.(?P<year>{FILE_YEAR_CORE})\.(?P<notation>{FILE_NOTATION_CORE})"
)
DOC_CODE_PATTERN = re.compile(DOC_CODE_CORE)
PAPER_FILE_CODE_PATTERN = re.compile(PAPER_FILE_CODE_CORE)
_DATE = re.compile(DATE_CORE)
_MONTH_YEAR = re.compile(MONTH_YEAR_CORE)
_YEAR = re.compile(YEAR_CORE)


def split_file_code(file_code: str) -> tuple[str, str, str]:
    """(mã định danh cơ quan, năm hình thành, số và ký hiệu hồ sơ) of a valid mã hồ sơ; ValueError otherwise.

    ``"000.00.00.G09.2010.01.TH"`` -> ``("000.00.00.G09", "2010", "01.TH")``; ``"H40.2024.01-VP"`` ->
    ``("H40", "2024", "01-VP")``.
    """
    match = _FILE_CODE_PARTS.fullmatch(file_code)
    if not match:
        raise ValueError(f"{file_code!r} is not [agency identifier].[year].[file number and symbol]")
    return match.group("organ"), match.group("year"), match.group("notation")


def parse_tt05_date(value: str, *, allow_partial: bool = False) -> tuple[date, date]:
    """Parse a TT 05 date strictly and return the (first, last) day it covers.

    DD/MM/YYYY only (no spaces, no other separators, a real calendar date, year 1000–9999). With
    ``allow_partial`` (the AIP form of a hồ sơ's startDate/endDate), also MM/YYYY and YYYY.
    """
    if _DATE.fullmatch(value):
        day, month, year = (int(part) for part in value.split("/"))
        return date(year, month, day), date(year, month, day)
    if allow_partial and _MONTH_YEAR.fullmatch(value):
        month, year = (int(part) for part in value.split("/"))
        first = date(year, month, 1)
        following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return first, following - timedelta(days=1)
    if allow_partial and _YEAR.fullmatch(value):
        return date(int(value), 1, 1), date(int(value), 12, 31)
    expected = "DD/MM/YYYY, MM/YYYY or YYYY" if allow_partial else "DD/MM/YYYY"
    raise ValueError(f"{value!r} is not a valid {expected} date")


# --------------------------------------------------------------------------- #
# Field tables
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class FieldSpec:
    """One TT 05 field: tag, names, type, length, requirement, and its code list or structure.

    ``kind``:
    * ``text``, free text up to ``max_length`` characters;
    * ``id``, text with a structure (``pattern``);
    * ``code``, one code of ``codes``;
    * ``codes``, a comma-separated list of codes;
    * ``number``, up to ``max_length`` digits;
    * ``boolean``, ``0`` or ``1``;
    * ``date``, DD/MM/YYYY;
    * ``path``, a payload path.

    ``requirement``: ``R`` required, ``O`` optional, ``C`` conditional. A ``C`` field is required when the field
    ``when[0]`` has one of the values ``when[1]``.
    """

    tag: str
    name_vi: str
    name_en: str
    kind: str
    max_length: int | None
    requirement: str
    codes: Mapping[str, str] | None = None
    pattern: str | None = None
    structure_vi: str = ""
    structure_en: str = ""
    when: tuple[str, tuple[str, ...]] | None = None
    condition_vi: str = ""
    condition_en: str = ""

    @property
    def label(self) -> str:
        return f"{self.tag} ({self.name_vi})"

    @property
    def code_range(self) -> str:
        assert self.codes
        return f"{min(self.codes)}–{max(self.codes)}"

    @property
    def core(self) -> str:
        """The unanchored regular expression of a valid, non-empty value ("" for free text)."""
        if self.kind in ("id", "path"):
            return self.pattern or ""
        if self.kind == "code":
            assert self.codes
            return "(" + "|".join(self.codes) + ")"
        if self.kind == "codes":
            assert self.codes
            one = "(" + "|".join(self.codes) + ")"
            return f"{one}(, ?{one})*"
        if self.kind == "number":
            return f"[0-9]{{1,{self.max_length}}}"
        if self.kind == "boolean":
            return "[01]"
        if self.kind == "date":
            return DATE_CORE
        return ""


_CONFIDENCE_02 = ("confidenceLevel", ("02",))
_RISK_1 = ("riskRecovery", ("1",))
_IF_DIGITISED = ("confidenceLevel là 02 (số hóa)", "confidenceLevel is 02 (digitised)")
_IF_RISK = ("riskRecovery là 1", "riskRecovery is 1")

HOSO_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("fileCode", "Mã hồ sơ", "File code", "id", 100, "R", pattern=FILE_CODE_CORE,
              structure_vi="[mã định danh cơ quan].[năm hình thành].[số và ký hiệu hồ sơ]",
              structure_en="[agency identifier].[year].[file number and symbol]"),
    FieldSpec("title", "Tiêu đề hồ sơ", "File title", "text", 1000, "R"),
    FieldSpec("maintenance", "Thời hạn lưu trữ", "Retention period", "code", 100, "R", MAINTENANCE),
    FieldSpec("mode", "Chế độ sử dụng", "Access regime", "code", 30, "R", MODE),
    FieldSpec("language", "Ngôn ngữ", "Language", "codes", 100, "R", LANGUAGE),
    FieldSpec("startDate", "Thời gian bắt đầu", "Start date", "date", None, "R"),
    FieldSpec("endDate", "Thời gian kết thúc", "End date", "date", None, "R"),
    FieldSpec("keyword", "Từ khóa", "Keywords", "text", 100, "O"),
    FieldSpec("totalDoc", "Tổng số tài liệu trong hồ sơ", "Number of documents in the file", "number", 10, "R"),
    FieldSpec("numberOfPaper", "Số lượng tờ", "Number of sheets", "number", 10, "R"),
    FieldSpec("numberOfPage", "Số lượng trang", "Number of pages", "number", 10, "R"),
    FieldSpec("format", "Tình trạng vật lý", "Physical condition", "code", 50, "O", FORMAT),
    FieldSpec("inforSign", "Ký hiệu thông tin", "Information mark", "text", 30, "O"),
    FieldSpec("confidenceLevel", "Mức độ tin cậy", "Reliability (origin)", "code", 40, "O", CONFIDENCE_LEVEL),
    FieldSpec("paperFileCode", "Mã hồ sơ gốc giấy", "File code of the paper original", "id", 100, "C",
              pattern=PAPER_FILE_CODE_CORE,
              structure_vi="[mã cơ quan lưu trữ].[số kho/giá/hộp].[số hồ sơ giấy]",
              structure_en="[archive code].[store/shelf/box].[paper file number]",
              when=_CONFIDENCE_02, condition_vi=_IF_DIGITISED[0], condition_en=_IF_DIGITISED[1]),
    FieldSpec("riskRecovery", "Chế độ dự phòng", "Security copy regime", "boolean", 1, "R", BOOLEAN),
    FieldSpec("riskRecoveryStatus", "Tình trạng dự phòng", "Security copy status", "code", 2, "C",
              RISK_RECOVERY_STATUS, when=_RISK_1, condition_vi=_IF_RISK[0], condition_en=_IF_RISK[1]),
    FieldSpec("description", "Ghi chú", "Notes", "text", 2000, "O"),
)

FILE_FIELD = FieldSpec("file", "Tệp tài liệu", "Payload file", "path", None, "R", pattern=FILE_PATH_CORE,
                       structure_vi="data/...", structure_en="data/...")

DOCUMENT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("docId", "Mã định danh tài liệu", "Document identifier", "text", 25, "R"),
    FieldSpec("docCode", "Mã lưu trữ của tài liệu", "Document archival code", "id", 100, "R", pattern=DOC_CODE_CORE,
              structure_vi="[mã hồ sơ].[số thứ tự 7 chữ số]", structure_en="[file code].[7-digit sequence]"),
    FieldSpec("maintenance", "Thời hạn lưu trữ", "Retention period", "code", 100, "R", MAINTENANCE),
    FieldSpec("typeName", "Tên loại tài liệu", "Document type", "code", 10, "R", TYPE_NAME),
    FieldSpec("codeNumber", "Số của tài liệu", "Document number", "text", 11, "O"),
    FieldSpec("codeNotation", "Ký hiệu của tài liệu", "Document symbol", "text", 30, "O"),
    FieldSpec("issuedDate", "Ngày, tháng, năm tài liệu", "Date of the document", "date", None, "R"),
    FieldSpec("organName", "Cơ quan, tổ chức, cá nhân ban hành", "Issuing body", "text", 200, "R"),
    FieldSpec("subject", "Trích yếu nội dung", "Abstract", "text", 500, "R"),
    FieldSpec("language", "Ngôn ngữ", "Language", "codes", 100, "R", LANGUAGE),
    FieldSpec("numberOfPage", "Số lượng trang", "Number of pages", "number", 4, "R"),
    FieldSpec("inforSign", "Ký hiệu thông tin", "Information mark", "text", 30, "O"),
    FieldSpec("keyword", "Từ khóa", "Keywords", "text", 100, "O"),
    FieldSpec("mode", "Chế độ sử dụng", "Access regime", "code", 20, "R", MODE),
    FieldSpec("confidenceLevel", "Mức độ tin cậy", "Reliability (origin)", "code", 30, "O", CONFIDENCE_LEVEL),
    FieldSpec("autograph", "Bút tích", "Handwritten annotations", "text", 2000, "O"),
    FieldSpec("format", "Tình trạng vật lý", "Physical condition", "code", 50, "O", FORMAT),
    FieldSpec("process", "Quy trình xử lý", "Processing trace attached", "boolean", 1, "C", BOOLEAN,
              when=("confidenceLevel", ("01", "03")), condition_vi="confidenceLevel là 01 hoặc 03",
              condition_en="confidenceLevel is 01 or 03"),
    FieldSpec("riskRecovery", "Chế độ dự phòng", "Security copy regime", "boolean", 1, "R", BOOLEAN),
    FieldSpec("riskRecoveryStatus", "Tình trạng dự phòng", "Security copy status", "code", 2, "C",
              RISK_RECOVERY_STATUS, when=_RISK_1, condition_vi=_IF_RISK[0], condition_en=_IF_RISK[1]),
    FieldSpec("description", "Ghi chú", "Notes", "text", 500, "O"),
)

HOSO_SPECS = {spec.tag: spec for spec in HOSO_FIELDS}
DOCUMENT_SPECS = {spec.tag: spec for spec in DOCUMENT_FIELDS}


# --------------------------------------------------------------------------- #
# Data model
# --------------------------------------------------------------------------- #
@dataclass
class Tt05HoSo:
    """A hồ sơ record: the 18 TT 05 fields as their TT 05 texts (None = absent)."""

    fileCode: str | None = None
    title: str | None = None
    maintenance: str | None = None
    mode: str | None = None
    language: str | None = None
    startDate: str | None = None
    endDate: str | None = None
    keyword: str | None = None
    totalDoc: str | None = None
    numberOfPaper: str | None = None
    numberOfPage: str | None = None
    format: str | None = None
    inforSign: str | None = None
    confidenceLevel: str | None = None
    paperFileCode: str | None = None
    riskRecovery: str | None = None
    riskRecoveryStatus: str | None = None
    description: str | None = None
    #: where the record was read (``metadata/EAD.xml`` or ``metadata/hoso.json#/hoso``): Problem.path
    source: str = ""
    #: fields that are not TT 05 hồ sơ fields (reported as problems)
    extra: dict[str, str] = field(default_factory=dict)

    def get(self, tag: str) -> str | None:
        value = getattr(self, tag)
        return value if value else None


@dataclass
class Tt05Document:
    """A document (tài liệu văn bản) record: the payload file it describes plus the 21 TT 05 fields."""

    file: str | None = None
    docId: str | None = None
    docCode: str | None = None
    maintenance: str | None = None
    typeName: str | None = None
    codeNumber: str | None = None
    codeNotation: str | None = None
    issuedDate: str | None = None
    organName: str | None = None
    subject: str | None = None
    language: str | None = None
    numberOfPage: str | None = None
    inforSign: str | None = None
    keyword: str | None = None
    mode: str | None = None
    confidenceLevel: str | None = None
    autograph: str | None = None
    format: str | None = None
    process: str | None = None
    riskRecovery: str | None = None
    riskRecoveryStatus: str | None = None
    description: str | None = None
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def get(self, tag: str) -> str | None:
        value = getattr(self, tag)
        return value if value else None


@dataclass
class Tt02Metadata:
    """TT 02/2019 metadata as read: tag → text for the hồ sơ and each document (documents keep ``file``)."""

    hoso: dict[str, str]
    documents: list[dict[str, str]] = field(default_factory=list)
    source: str = ""
    document_sources: list[str] = field(default_factory=list)


@dataclass
class Tt05Metadata:
    """The TT 05 metadata of one SIP, as loaded (and converted from TT 02 when needed)."""

    hoso: Tt05HoSo | None
    documents: list[Tt05Document] = field(default_factory=list)
    #: the standard the SIP was written in: "TT 05/2025", or "TT 02/2019" (then converted)
    standard: str = TT05
    #: "xml" (metadata/EAD.xml + EAD_doc) or "json" (metadata/hoso.json)
    form: str = "xml"
    #: the payload paths of the bag ("data/..."), None when unknown (no payload checks)
    payload_paths: frozenset[str] | None = None
    load_problems: list[Problem] = field(default_factory=list)
    load_warnings: list[Problem] = field(default_factory=list)
    #: what convert_tt02 mapped and could not map (for the PREMIS "metadata modification" event)
    conversion_notes: list[str] = field(default_factory=list)
    original: Tt02Metadata | None = None
    #: metadata files read, relative to the bag root
    files: list[str] = field(default_factory=list)
    #: document metadata files that could not be read (counts over the documents are then not checked)
    unreadable: list[str] = field(default_factory=list)


class Tt05Findings(NamedTuple):
    problems: list[Problem]
    warnings: list[Problem]


# --------------------------------------------------------------------------- #
# Messages
# --------------------------------------------------------------------------- #
def _missing(spec: FieldSpec) -> str:
    return f"{spec.label}: thiếu trường bắt buộc / required field missing"


def _not_in_code_list(spec: FieldSpec, code: str) -> str:
    return f'{spec.label}: "{code}" không thuộc danh mục {spec.code_range} / not in code list {spec.code_range}'


def _field_errors(spec: FieldSpec, value: str, *, allow_partial: bool = False) -> list[str]:
    """Why a present (non-empty) value breaks the single-field rules of ``spec``; [] when it is valid."""
    label, kind = spec.label, spec.kind
    errors: list[str] = []
    if kind in ("text", "id") and spec.max_length is not None and len(value) > spec.max_length:
        errors.append(f"{label}: dài {len(value)} ký tự, tối đa {spec.max_length} / "
                      f"{len(value)} characters, at most {spec.max_length}")
    if kind in ("id", "path") and not re.fullmatch(spec.core, value):
        errors.append(f'{label}: "{value}" không đúng cấu trúc {spec.structure_vi} / '
                      f"does not match {spec.structure_en}")
    elif kind == "code" and value not in (spec.codes or {}):
        errors.append(_not_in_code_list(spec, value))
    elif kind == "codes" and not re.fullmatch(spec.core, value):
        unknown = [code.strip() for code in value.split(",") if code.strip() and code.strip() not in (spec.codes or {})]
        errors.extend(_not_in_code_list(spec, code) for code in unknown)
        if not unknown:
            errors.append(f'{label}: "{value}" không đúng dạng danh sách mã cách nhau bằng dấu phẩy / '
                          "not a comma-separated list of codes")
    elif kind == "number" and not re.fullmatch(spec.core, value):
        errors.append(f'{label}: "{value}" không phải số nguyên không âm tối đa {spec.max_length} chữ số / '
                      f"not a whole number of at most {spec.max_length} digits")
    elif kind == "boolean" and value not in ("0", "1"):
        errors.append(f'{label}: "{value}" phải là 0 hoặc 1 / must be 0 or 1')
    elif kind == "date":
        try:
            parse_tt05_date(value, allow_partial=allow_partial)
        except ValueError:
            if allow_partial:
                errors.append(f'{label}: "{value}" không đúng định dạng DD/MM/YYYY, MM/YYYY hoặc YYYY / '
                              "not a valid DD/MM/YYYY, MM/YYYY or YYYY date")
            else:
                errors.append(f'{label}: "{value}" không đúng định dạng DD/MM/YYYY / not a valid DD/MM/YYYY date')
    return errors


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #
class UnsafeXml(ValueError):
    """The XML carries a DOCTYPE (DTD, entity declarations): refused before any value is used."""


def parse_xml_secure(data: bytes) -> Any:
    """Parse XML bytes without DTD loading, entity expansion or network access; refuse any DOCTYPE.

    Raises ``etree.XMLSyntaxError`` for malformed XML and :class:`UnsafeXml` for a DOCTYPE.
    """
    root = safexml.fromstring(data, safexml.parser(remove_comments=True, remove_pis=True))
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml("DOCTYPE/DTD not allowed")
    return root


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _natural_key(name: str) -> tuple[Any, ...]:
    # split on ASCII digit runs only: "\d" and isdigit() also take "²", which int() refuses
    return tuple(int(part) if index % 2 else part for index, part in enumerate(re.split(r"([0-9]+)", name)))


def _tag_manifest_paths(bag_root: Path, max_lines: int = MAX_METADATA_FILES) -> set[str]:
    """Paths the bag's tag manifests list, read as ``packages.sip`` reads them: incrementally, at most
    ``max_lines`` lines a manifest (each at most ``TAG_MANIFEST_LINE_CHARS``), lines ending at LF, CR or
    CRLF only (``str.splitlines`` would also split inside a name at U+2028 and the like). A manifest that
    cannot be read to its end counts with the lines read before; a metadata file it misses is reported."""
    covered: set[str] = set()
    for manifest in sorted(bag_root.glob("tagmanifest-*.txt")):
        reader = bagit_reader.LineReader(manifest, "utf-8", max_lines, TAG_MANIFEST_LINE_CHARS)
        try:
            for _number, line in reader:
                parts = line.strip().split(None, 1) if line is not None else []
                if len(parts) == 2:
                    path = parts[1].lstrip("*").replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
                    covered.add(_nfc(path))
        except (OSError, bagit_reader.TagFileError):
            continue
    return covered


@dataclass
class _Raw:
    """One record as read, before it is typed: tag -> value (str for XML; any JSON value for JSON)."""

    source: str
    values: dict[str, Any]
    file: Any = None


class _Reader:
    def __init__(self, bag_root: Path, max_file_bytes: int = MAX_METADATA_BYTES) -> None:
        self.bag_root = bag_root
        self.max_file_bytes = max_file_bytes
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.files: list[str] = []
        self.unreadable: list[str] = []

    def read_bytes(self, relpath: str) -> bytes | None:
        """The file's bytes, or None with a problem: not a regular file inside the bag, over
        ``max_file_bytes`` (checked by ``stat`` before reading, and again while reading: a file growing
        under us is not read past the limit), or unreadable."""
        path = self.bag_root / relpath
        inside = path.resolve().is_relative_to(self.bag_root.resolve())  # no symlinked metadata/ leading out
        if path.is_symlink() or not inside or not path.is_file():
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail="không phải tệp thông thường / not a regular file"))
            return None
        try:
            data = bagit_reader.read_limited(path, self.max_file_bytes, relpath)
        except bagit_reader.TagFileError as exc:  # tag-file-too-large, naming the limit in both languages
            self.problems.append(Problem(exc.code, path=relpath, detail=exc.detail))
            return None
        except OSError as exc:
            self.problems.append(Problem("unreadable", path=relpath, detail=str(exc)))
            return None
        self.files.append(relpath)
        return data

    def xml_record(self, relpath: str, expected_type: str) -> _Raw | None:
        data = self.read_bytes(relpath)
        if data is None:
            return None
        try:
            root = parse_xml_secure(data)
        except UnsafeXml:
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail="DOCTYPE/DTD và khai báo thực thể không được phép / "
                                                "DOCTYPE, DTD and entity declarations are not allowed"))
            return None
        except etree.XMLSyntaxError as exc:
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail=f"XML không hợp lệ / not well-formed XML: {exc}"))
            return None
        xsi_type = root.get(f"{{{XSI}}}type")
        if xsi_type is not None and xsi_type.split(":")[-1] != expected_type:
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail=f'xsi:type "{xsi_type}" phải là "{expected_type}" / '
                                                f'must be "{expected_type}"'))
        raw = _Raw(source=relpath, values={}, file=root.get("file"))
        seen: set[str] = set()
        for child in root:
            if not isinstance(child.tag, str):  # an entity reference left unexpanded
                self.problems.append(Problem("metadata-invalid", path=relpath,
                                             detail="tham chiếu thực thể không được phép / entity references "
                                                    "are not allowed"))
                continue
            name = etree.QName(child).localname
            label = _label_any(name)
            if name in seen:
                self.problems.append(Problem("metadata-invalid", path=relpath,
                                             detail=f"{label}: xuất hiện nhiều lần / appears more than once"))
                continue
            seen.add(name)
            if len(child):
                self.problems.append(Problem("metadata-invalid", path=relpath,
                                             detail=f"{label}: chỉ được chứa văn bản / must contain text only"))
                continue
            raw.values[name] = child.text or ""
        return raw

    def json_records(self, relpath: str) -> tuple[_Raw | None, list[_Raw]]:
        data = self.read_bytes(relpath)
        if data is None:
            return None, []

        def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            result: dict[str, Any] = {}
            for key, value in pairs:
                if key in result:
                    raise ValueError(f"duplicate key {key!r}")
                result[key] = value
            return result

        try:
            document = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
        except (UnicodeDecodeError, ValueError) as exc:
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail=f"JSON không hợp lệ / not valid JSON: {exc}"))
            return None, []
        if not isinstance(document, dict) or not isinstance(document.get("hoso"), dict):
            self.problems.append(Problem("metadata-missing", path=relpath,
                                         detail='cần một đối tượng {"hoso": {...}} / needs an object {"hoso": {...}}'))
            return None, []
        for key in sorted(set(document) - {"hoso", "documents"}):
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail=f"{key}: khóa không được phép / key not allowed"))
        documents = document.get("documents", [])
        if not isinstance(documents, list) or not all(isinstance(item, dict) for item in documents):
            self.problems.append(Problem("metadata-invalid", path=relpath,
                                         detail="documents: phải là mảng các đối tượng / must be an array of objects"))
            documents = []
        hoso = _Raw(source=f"{relpath}#/hoso", values=dict(document["hoso"]))
        raws = []
        for number, item in enumerate(documents):
            values = dict(item)
            raws.append(_Raw(source=f"{relpath}#/documents/{number}", values=values, file=values.pop("file", None)))
        return hoso, raws


def _label_any(tag: str) -> str:
    spec = HOSO_SPECS.get(tag) or DOCUMENT_SPECS.get(tag) or (FILE_FIELD if tag == "file" else None)
    return spec.label if spec else tag


def _typed(raw: Any, spec: FieldSpec | None, label: str, source: str, problems: list[Problem]) -> str | None:
    """A raw XML/JSON value as TT 05 text (NFC, stripped); None when absent; JSON type errors reported."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = _nfc(raw).strip()
        return text or None
    number = spec is not None and spec.kind == "number"
    if number and isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if number and isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    expected = ("phải là chuỗi hoặc số nguyên / must be a string or an integer" if number
                else "phải là chuỗi / must be a string")
    problems.append(Problem("metadata-invalid", path=source,
                            detail=f"{label}: kiểu JSON sai ({json.dumps(raw, ensure_ascii=False)}), {expected}"))
    return None


def _build_hoso(raw: _Raw, problems: list[Problem]) -> Tt05HoSo:
    hoso = Tt05HoSo(source=raw.source)
    for tag, value in raw.values.items():
        spec = HOSO_SPECS.get(tag)
        text = _typed(value, spec, spec.label if spec else tag, raw.source, problems)
        if spec is None:
            hoso.extra[tag] = text or ""
        else:
            setattr(hoso, tag, text)
    return hoso


def _build_document(raw: _Raw, problems: list[Problem]) -> Tt05Document:
    doc = Tt05Document(source=raw.source)
    doc.file = _typed(raw.file, FILE_FIELD, FILE_FIELD.label, raw.source, problems)
    for tag, value in raw.values.items():
        spec = DOCUMENT_SPECS.get(tag)
        text = _typed(value, spec, spec.label if spec else tag, raw.source, problems)
        if spec is None:
            doc.extra[tag] = text or ""
        else:
            setattr(doc, tag, text)
    return doc


def _tt02_values(raw: _Raw, problems: list[Problem]) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag, value in raw.values.items():
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        text = _typed(value, None, tag, raw.source, problems)
        if text is not None:
            values[tag] = text
    return values


def load_metadata(bag_root: Path, payload_paths: set[str], *, max_file_bytes: int = MAX_METADATA_BYTES,
                  max_lines: int = MAX_METADATA_FILES) -> Tt05Metadata | None:
    """Read the TT 05 (or TT 02, converted) metadata of a bag; None when the bag carries none.

    ``payload_paths`` are the bag's payload files relative to its root (``data/...``), as in
    ``SipReport.files``. Nothing is validated here beyond what reading needs. Reading problems
    (unreadable files, a DOCTYPE, JSON types, files missing from the tag manifest) are kept in
    ``load_problems`` and returned again by :func:`validate_metadata`.

    Hostile input is bounded as the rest of the bag is (``packages.sip.validate_sip`` passes its limits):
    no metadata file is read past ``max_file_bytes`` (a bigger one is a ``tag-file-too-large`` problem),
    and no more than ``max_lines`` ``EAD_doc`` files are read, nor tag-manifest lines: every EAD_doc file
    must be listed in a tag manifest of at most that many lines, so a bag with more can never be valid.
    """
    bag_root = Path(bag_root)
    has_xml = (bag_root / EAD_XML).is_file() or (bag_root / EAD_XML).is_symlink()
    has_json = (bag_root / HOSO_JSON).is_file() or (bag_root / HOSO_JSON).is_symlink()
    doc_dir = bag_root / EAD_DOC_DIR
    has_docs = doc_dir.is_dir() and not doc_dir.is_symlink()
    if not (has_xml or has_json or has_docs):
        return None
    reader = _Reader(bag_root, max_file_bytes)
    hoso_raw: _Raw | None = None
    doc_raws: list[_Raw] = []
    form = "xml" if has_xml or not has_json else "json"
    if has_xml and has_json:
        reader.problems.append(Problem("metadata-invalid", path=HOSO_JSON,
                                       detail="gói có cả metadata/EAD.xml và metadata/hoso.json, chỉ được dùng một / "
                                              "the bag has both metadata/EAD.xml and metadata/hoso.json; use one"))
    if form == "xml":
        if has_xml:
            hoso_raw = reader.xml_record(EAD_XML, XSD_TYPE_HOSO)
        else:
            reader.problems.append(Problem("metadata-missing", path=EAD_XML,
                                           detail="có metadata/EAD_doc nhưng thiếu metadata/EAD.xml / "
                                                  "metadata/EAD_doc without metadata/EAD.xml"))
        if has_docs:
            entries = sorted(doc_dir.iterdir(), key=lambda p: _natural_key(p.name))
            if len(entries) > max_lines:
                reader.problems.append(Problem(
                    "metadata-invalid", path=EAD_DOC_DIR,
                    detail=f"{len(entries):,} files > limit max_manifest_lines={max_lines:,} "
                           f"(KHO_SIP_MAX_MANIFEST_LINES; each must be listed in the tag manifest); only the first "
                           f"{max_lines:,} were read / {len(entries):,} tệp, vượt giới hạn {max_lines:,} "
                           f"(mỗi tệp phải có trong tagmanifest); chỉ đọc {max_lines:,} tệp đầu"))
                del entries[max_lines:]
            for entry in entries:
                relpath = f"{EAD_DOC_DIR}/{_nfc(entry.name)}"
                if entry.name.endswith(".xml"):
                    record = reader.xml_record(relpath, XSD_TYPE_DOCUMENT)
                    if record is not None:
                        doc_raws.append(record)
                    else:
                        reader.unreadable.append(relpath)
                else:
                    reader.warnings.append(Problem("metadata-invalid", path=relpath,
                                                   detail="không phải tệp .xml, bỏ qua / not an .xml file, ignored"))
    else:
        hoso_raw, doc_raws = reader.json_records(HOSO_JSON)
        if has_docs:
            reader.problems.append(Problem("metadata-invalid", path=EAD_DOC_DIR,
                                           detail="metadata/EAD_doc không dùng cùng metadata/hoso.json / "
                                                  "metadata/EAD_doc cannot be used with metadata/hoso.json"))
    covered = _tag_manifest_paths(bag_root, max_lines)
    for relpath in reader.files:
        if relpath not in covered:
            reader.problems.append(Problem("metadata-invalid", path=relpath,
                                           detail="tệp dữ liệu đặc tả không có trong tagmanifest / metadata file "
                                                  "not listed in the tag manifest"))
    payload = frozenset(_nfc(p) for p in payload_paths)
    problems = reader.problems
    tt02_tags = set(TT02_HOSO_TAGS)
    tt02_documents = all(set(raw.values) & set(TT02_DOCUMENT_TAGS) and not set(raw.values) & set(DOCUMENT_SPECS)
                         for raw in doc_raws)
    if hoso_raw is None and doc_raws and tt02_documents:
        # The hồ sơ record is missing or could not be read (too large, malformed) and the documents are TT 02
        # ones, which convert only with it: read as TT 05 records they would bury the one real problem under
        # dozens about TT 02 tags. They are checked once the hồ sơ record can be read.
        doc_raws = []
    if hoso_raw is not None and not set(hoso_raw.values) & set(HOSO_SPECS) and set(hoso_raw.values) & tt02_tags:
        original = Tt02Metadata(
            hoso=_tt02_values(hoso_raw, problems),
            documents=[{**_tt02_values(raw, problems), **({"file": _nfc(raw.file)} if isinstance(raw.file, str)
                                                           else {})} for raw in doc_raws],
            source=hoso_raw.source,
            document_sources=[raw.source for raw in doc_raws],
        )
        meta, _ = convert_tt02(original)
    else:
        meta = Tt05Metadata(
            hoso=_build_hoso(hoso_raw, problems) if hoso_raw is not None else None,
            documents=[_build_document(raw, problems) for raw in doc_raws],
        )
    meta.form = form
    meta.payload_paths = payload
    meta.load_problems = problems
    meta.load_warnings = reader.warnings
    meta.files = reader.files
    meta.unreadable = reader.unreadable
    return meta


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def _check_record(record: Tt05HoSo | Tt05Document, specs: Iterable[FieldSpec], what_vi: str, what_en: str,
                  problems: list[Problem], *, partial_dates: frozenset[str] = frozenset()) -> dict[str, str]:
    """Single-field and conditional rules; returns the valid values (tag -> text) for cross-field checks."""
    valid: dict[str, str] = {}
    specs = tuple(specs)
    for name in sorted(record.extra):
        problems.append(Problem("metadata-invalid", path=record.source,
                                detail=f"{name}: không phải trường TT 05/2025 của {what_vi} / "
                                       f"not a TT 05/2025 {what_en} field"))
    for spec in specs:
        value = record.get(spec.tag)
        if value is None:
            if spec.requirement == "R":
                problems.append(Problem("metadata-missing", path=record.source, detail=_missing(spec)))
            elif spec.when is not None and record.get(spec.when[0]) in spec.when[1]:
                problems.append(Problem("metadata-missing", path=record.source,
                                        detail=f"{spec.label}: bắt buộc khi {spec.condition_vi} / "
                                               f"required when {spec.condition_en}"))
            continue
        errors = _field_errors(spec, value, allow_partial=spec.tag in partial_dates)
        problems.extend(Problem("metadata-invalid", path=record.source, detail=error) for error in errors)
        if not errors:
            valid[spec.tag] = value
    return valid


def _retention_rank(code: str) -> int | None:
    """Longer retention sorts first: 01 vĩnh viễn < 02 70 năm < ... < 06 10 năm; 07 khác is not ranked."""
    return int(code) if code in MAINTENANCE and code != "07" else None


def digitised_companions(doc: Tt05Document, payload_paths: Iterable[str]) -> set[str]:
    """The payload files that belong to a digitised document besides the PDF/A its record names.

    ``kho digitise`` (docs/decisions/0026-digitisation.md) lays a digitised document (confidenceLevel 02)
    out as ``data/<docCode>/<docCode>.pdf`` (the two-layer PDF/A, the record's ``file``), ``<docCode>.txt``
    beside it (the recognised text) and ``masters/<name>`` (the page images as scanned). TT 05 gives a
    document record one file; the text and the masters are that document too, so they are described by
    it. Only that layout counts: the record is digitised, its file is a PDF in a folder named as the file,
    and the text has the PDF's name; nothing deeper than ``masters/`` belongs to it.
    """
    if doc.file is None or doc.get("confidenceLevel") != "02":
        return set()
    pdf = PurePosixPath(_nfc(doc.file))
    if pdf.suffix.lower() != ".pdf" or pdf.parent.name != pdf.stem or len(pdf.parts) < 3:
        return set()
    text, masters = (pdf.parent / f"{pdf.stem}.txt").as_posix(), pdf.parent / "masters"
    return {path for path in payload_paths if path == text or PurePosixPath(path).parent == masters}


def validate_metadata(meta: Tt05Metadata, *, allow_partial_dates: bool = False) -> Tt05Findings:
    """Check the TT 05 rules; return (problems, warnings). Every detail names the field and the value.

    Problems use the codes ``metadata-missing`` / ``metadata-invalid`` of :mod:`packages.sip`; their
    ``path`` is the metadata record (``metadata/EAD_doc/2.xml``, ``metadata/hoso.json#/documents/1``). The
    exception is the warning for a payload file that no document describes: its path is that file (the text
    and masters of a digitised document are described by it: :func:`digitised_companions`).
    ``allow_partial_dates`` also accepts MM/YYYY and YYYY as the hồ sơ's startDate/endDate (AIP form).
    """
    problems = list(meta.load_problems)
    warnings = list(meta.load_warnings)
    hoso: dict[str, str] = {}
    hoso_source = meta.hoso.source if meta.hoso is not None else (EAD_XML if meta.form == "xml" else HOSO_JSON)
    if meta.hoso is not None:
        partial = frozenset({"startDate", "endDate"}) if allow_partial_dates else frozenset()
        hoso = _check_record(meta.hoso, HOSO_FIELDS, "hồ sơ", "file", problems, partial_dates=partial)
    documents = [(doc, _check_record(doc, DOCUMENT_FIELDS, "tài liệu", "document", problems))
                 for doc in meta.documents]

    span: tuple[date, date] | None = None
    if "startDate" in hoso and "endDate" in hoso:
        start = parse_tt05_date(hoso["startDate"], allow_partial=allow_partial_dates)
        end = parse_tt05_date(hoso["endDate"], allow_partial=allow_partial_dates)
        if start[0] > end[1]:
            problems.append(Problem("metadata-invalid", path=hoso_source,
                                    detail=f'{HOSO_SPECS["startDate"].label}: "{hoso["startDate"]}" sau endDate '
                                           f'"{hoso["endDate"]}" / is after endDate "{hoso["endDate"]}"'))
        else:
            span = (start[0], end[1])
    complete = not meta.unreadable  # every document record was read: counts over them mean something
    if complete and meta.documents and "totalDoc" in hoso and int(hoso["totalDoc"]) != len(meta.documents):
        problems.append(Problem("metadata-invalid", path=hoso_source,
                                detail=f'{HOSO_SPECS["totalDoc"].label}: "{hoso["totalDoc"]}" khác số tài liệu được '
                                       f"mô tả ({len(meta.documents)}) / differs from the number of documents "
                                       f"described ({len(meta.documents)})"))
    file_code = meta.hoso.get("fileCode") if meta.hoso is not None else None
    if "fileCode" in hoso and span is not None:
        year = int(split_file_code(hoso["fileCode"])[1])
        if not span[0].year <= year <= span[1].year:
            warnings.append(Problem("metadata-invalid", path=hoso_source,
                                    detail=f'{HOSO_SPECS["fileCode"].label}: năm "{year}" nằm ngoài thời gian của '
                                           f"hồ sơ {span[0].year}–{span[1].year} / year {year} is outside the "
                                           f"file's dates {span[0].year}–{span[1].year}"))

    seen: dict[str, dict[str, str]] = {"docId": {}, "docCode": {}, "file": {}}
    for doc, valid in documents:
        source = doc.source
        if doc.file is None:
            problems.append(Problem("metadata-missing", path=source, detail=_missing(FILE_FIELD)))
        elif meta.payload_paths is not None and _nfc(doc.file) not in meta.payload_paths:
            problems.append(Problem("metadata-invalid", path=source,
                                    detail=f'{FILE_FIELD.label}: "{doc.file}" không có trong dữ liệu của gói / '
                                           "is not a payload file of the bag"))
        for tag in ("docId", "docCode", "file"):
            value = doc.get(tag)
            if value is None:
                continue
            if value in seen[tag]:
                problems.append(Problem("metadata-invalid", path=source,
                                        detail=f'{_label_any(tag)}: "{value}" trùng với {seen[tag][value]} / '
                                               f"duplicates {seen[tag][value]}"))
            else:
                seen[tag][value] = source
        code = doc.get("docCode")
        if code is not None and file_code is not None:
            prefix, _, number = code.rpartition(".")
            if prefix != file_code or not re.fullmatch(r"[0-9]{7}", number):
                problems.append(Problem("metadata-invalid", path=source,
                                        detail=f'{DOCUMENT_SPECS["docCode"].label}: "{code}" phải là mã hồ sơ '
                                               f'"{file_code}" + "." + số thứ tự 7 chữ số / must be the file code '
                                               f'"{file_code}" + "." + a 7-digit sequence number'))
        if span is not None and "issuedDate" in valid:
            issued = parse_tt05_date(valid["issuedDate"])[0]
            if not span[0] <= issued <= span[1]:
                warnings.append(Problem("metadata-invalid", path=source,
                                        detail=f'{DOCUMENT_SPECS["issuedDate"].label}: "{valid["issuedDate"]}" nằm '
                                               f'ngoài thời gian của hồ sơ {hoso["startDate"]}–{hoso["endDate"]} / '
                                               f"is outside the file's dates"))
        file_rank = _retention_rank(hoso.get("maintenance", ""))
        doc_rank = _retention_rank(valid.get("maintenance", ""))
        if file_rank is not None and doc_rank is not None and doc_rank < file_rank:
            doc_m, file_m = valid["maintenance"], hoso["maintenance"]
            warnings.append(Problem("metadata-invalid", path=source,
                                    detail=f'{DOCUMENT_SPECS["maintenance"].label}: "{doc_m}" ({MAINTENANCE[doc_m]}) '
                                           f'dài hơn thời hạn của hồ sơ "{file_m}" ({MAINTENANCE[file_m]}); hồ sơ '
                                           f"theo thời hạn dài nhất / longer than the file's retention; a file "
                                           "takes its longest retention"))

    levels = {valid["confidenceLevel"] for _, valid in documents if "confidenceLevel" in valid}
    if complete and levels:
        expected = levels.pop() if len(levels) == 1 else "03"
        if "confidenceLevel" in hoso and hoso["confidenceLevel"] != expected:
            warnings.append(Problem("metadata-invalid", path=hoso_source,
                                    detail=f'{HOSO_SPECS["confidenceLevel"].label}: "{hoso["confidenceLevel"]}" '
                                           f'không khớp các tài liệu, nên là "{expected}" / does not match the '
                                           f'documents, expected "{expected}"'))
    digitised = any(valid.get("confidenceLevel") in ("02", "03") for _, valid in documents)
    if (digitised and meta.hoso is not None and meta.hoso.get("paperFileCode") is None
            and meta.hoso.get("confidenceLevel") != "02"):
        warnings.append(Problem("metadata-missing", path=hoso_source,
                                detail=f'{HOSO_SPECS["paperFileCode"].label}: hồ sơ có tài liệu số hóa nhưng không '
                                       "ghi mã hồ sơ gốc giấy / the file holds digitised documents but names no "
                                       "paper original"))
    pages = [valid.get("numberOfPage") for _, valid in documents]
    if complete and documents and "numberOfPage" in hoso and all(pages):
        total = sum(int(p) for p in pages if p)
        if total != int(hoso["numberOfPage"]):
            warnings.append(Problem("metadata-invalid", path=hoso_source,
                                    detail=f'{HOSO_SPECS["numberOfPage"].label}: "{hoso["numberOfPage"]}" khác tổng '
                                           f"số trang của các tài liệu ({total}) / differs from the documents' "
                                           f"total ({total})"))
    if meta.payload_paths is not None:
        described = {_nfc(doc.file) for doc in meta.documents if doc.file}
        described |= {path for doc in meta.documents for path in digitised_companions(doc, meta.payload_paths)}
        for path in sorted(meta.payload_paths - described):
            warnings.append(Problem("metadata-missing", path=path,
                                    detail="tệp không có dữ liệu đặc tả tài liệu (EAD_doc) / no document metadata "
                                           "describes this payload file"))
    return Tt05Findings(problems, warnings)


def check_bag(bag_root: Path, payload_paths: set[str], *, allow_partial_dates: bool = False,
              max_file_bytes: int = MAX_METADATA_BYTES, max_lines: int = MAX_METADATA_FILES,
              ) -> tuple[Tt05Metadata | None, Tt05Findings]:
    """load_metadata + validate_metadata in one call (for ``validate_sip``, which passes its limits)."""
    meta = load_metadata(bag_root, payload_paths, max_file_bytes=max_file_bytes, max_lines=max_lines)
    if meta is None:
        return None, Tt05Findings([], [])
    return meta, validate_metadata(meta, allow_partial_dates=allow_partial_dates)


# --------------------------------------------------------------------------- #
# TT 02/2019 -> TT 05/2025
# --------------------------------------------------------------------------- #
TT02_HOSO_TAGS = ("FileCode", "Identifier", "OrganId", "FileCatalog", "FileNotation", "Title", "Maintenance",
                  "Rights", "Mode", "Language", "StartDate", "EndDate", "TotalDoc", "DocTotal", "Description",
                  "InforSign", "Keyword", "PaperTotal", "SheetTotal", "NumberOfPaper", "PageTotal",
                  "NumberOfPage", "Format")
TT02_DOCUMENT_TAGS = ("DocCode", "FileCode", "Identifier", "OrganId", "FileCatalog", "FileNotation", "DocOrdinal",
                      "TypeName", "CodeNumber", "CodeNotation", "IssuedDate", "OrganName", "Subject", "Language",
                      "PageAmount", "Description", "InforSign", "Keyword", "Mode", "Rights", "ConfidenceLevel",
                      "Autograph", "Format", "file")
#: hồ sơ: TT 02 fields copied as they are (first tag present wins)
_TT02_HOSO_COPY = (("totalDoc", ("TotalDoc", "DocTotal")),
                   ("numberOfPaper", ("PaperTotal", "SheetTotal", "NumberOfPaper")),
                   ("numberOfPage", ("PageTotal", "NumberOfPage")), ("inforSign", ("InforSign",)),
                   ("keyword", ("Keyword",)), ("description", ("Description",)))
_TT02_DOCUMENT_COPY = (("docId", ("DocCode",)), ("codeNumber", ("CodeNumber",)), ("codeNotation", ("CodeNotation",)),
                       ("organName", ("OrganName",)), ("subject", ("Subject",)), ("numberOfPage", ("PageAmount",)),
                       ("inforSign", ("InforSign",)), ("keyword", ("Keyword",)), ("autograph", ("Autograph",)),
                       ("description", ("Description",)))
#: TT 02 hồ sơ fields without a TT 05 SIP field (they describe the archive, fonds and inventory)
_TT02_HOSO_UNMAPPED = ("Identifier", "OrganId", "FileCatalog", "FileNotation")
_TT02_REPEATED = ("FileCode", "Identifier", "OrganId", "FileCatalog", "FileNotation")


def _fold(text: str) -> str:
    """Lower-case, without Vietnamese diacritics, hyphens as spaces, single spaces: "Vĩnh viễn" -> "vinh vien"."""
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("-", " ").split())


def _words(codes: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    words = {_fold(label): code for code, label in codes.items()}
    words.update(extra)
    return words


_MAINTENANCE_WORDS = _words(MAINTENANCE, {"lau dai": "07"})
_MODE_WORDS = _words(MODE, {"han che": "02", "han che su dung": "02", "su dung han che": "02", "co dieu kien": "02",
                            "tiep can co dieu kien": "02", "han che tiep can": "02", "toi mat": "03",
                            "tuyet mat": "03"})
_LANGUAGE_WORDS = _words(LANGUAGE, {
    "viet": "01", "vi": "01", "vie": "01", "anh": "02", "en": "02", "eng": "02", "phap": "03", "fr": "03", "fra": "03",
    "fre": "03", "nga": "04", "ru": "04", "rus": "04", "trung": "05", "tieng trung quoc": "05", "tieng hoa": "05",
    "zh": "05", "zho": "05", "chi": "05", "viet anh": "06", "viet nga": "07", "viet phap": "08", "viet trung": "10",
})
_CONFIDENCE_WORDS = _words(CONFIDENCE_LEVEL, {"ban goc dien tu": "01", "dien tu": "01", "tai lieu goc dien tu": "01",
                                              "ban so hoa": "02", "tai lieu so hoa": "02"})
_FORMAT_WORDS = _words(FORMAT, {"hu hong": "03", "bi hong": "03"})
_TYPE_WORDS = _words(TYPE_NAME, {"giay uy quyen": "16"})


def _map_code(text: str, codes: Mapping[str, str], words: Mapping[str, str]) -> str | None:
    if text in codes:
        return text
    if re.fullmatch(r"[0-9]", text) and f"0{text}" in codes:
        return f"0{text}"
    folded = _fold(text)
    if folded in words:
        return words[folded]
    if codes is MAINTENANCE:
        years = re.fullmatch(r"([0-9]+) nam", folded)
        if years:
            return {"70": "02", "50": "03", "30": "04", "20": "05", "10": "06"}.get(years.group(1), "07")
    return None


def _map_languages(text: str) -> tuple[str, list[str]]:
    """TT 02 language text -> TT 05 codes, and the parts that only fit 11 (Khác)."""
    codes: list[str] = []
    other: list[str] = []
    for part in (p.strip() for p in re.split(r"[,;]", text)):
        if not part:
            continue
        code = _map_code(part, LANGUAGE, _LANGUAGE_WORDS)
        if code is None:
            other.append(part)
            code = "11"
        if code not in codes:
            codes.append(code)
    return ",".join(codes), other


def _map_date(text: str) -> str:
    iso = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text)
    if iso:
        return f"{iso.group(3)}/{iso.group(2)}/{iso.group(1)}"
    short = re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", text)
    if short:
        return f"{int(short.group(1)):02d}/{int(short.group(2)):02d}/{short.group(3)}"
    return text


class _Converter:
    """Maps one TT 02 record onto a TT 05 record and writes the notes for it."""

    def __init__(self, values: dict[str, str], record: Tt05HoSo | Tt05Document, prefix: str, notes: list[str]):
        self.values = values
        self.record = record
        self.prefix = prefix
        self.notes = notes
        self.used: set[str] = set()
        self.renamed: list[str] = []

    def first(self, tags: Iterable[str]) -> tuple[str, str] | None:
        for tag in tags:
            if self.values.get(tag):
                self.used.add(tag)
                return tag, self.values[tag]
        return None

    def copy(self, target: str, tags: Iterable[str]) -> None:
        found = self.first(tags)
        if found:
            setattr(self.record, target, found[1])
            self.renamed.append(f"{found[0]} → {target}")

    def code(self, target: str, tags: Iterable[str], codes: Mapping[str, str], words: Mapping[str, str],
             *, optional: bool, other: str | None = None) -> None:
        found = self.first(tags)
        if not found:
            return
        tag, text = found
        code = _map_code(text, codes, words) or other
        if code is None:
            if optional:
                self.notes.append(f'{self.prefix}{tag} "{text}": không chuyển được sang mã {target}, bỏ trống / '
                                  f"no {target} code for it, left empty")
            else:
                setattr(self.record, target, text)
                self.notes.append(f'{self.prefix}{tag} "{text}": không chuyển được sang mã {target}, giữ nguyên để '
                                  f"kiểm tra / no {target} code for it, kept as is for review")
        elif code == text:
            setattr(self.record, target, code)
            self.renamed.append(f"{tag} → {target}")
        else:
            setattr(self.record, target, code)
            self.notes.append(f'{self.prefix}{tag} "{text}" → {target} "{code}" ({codes[code]})')

    def language(self, tags: Iterable[str]) -> None:
        found = self.first(tags)
        if not found:
            return
        tag, text = found
        codes, other = _map_languages(text)
        self.record.language = codes
        if codes == text:
            self.renamed.append(f"{tag} → language")
        else:
            self.notes.append(f'{self.prefix}{tag} "{text}" → language "{codes}"')
        for part in other:
            self.notes.append(f'{self.prefix}{tag} "{part}": không có mã riêng, ghi là 11 (Khác) / no code of its own, '
                              "recorded as 11 (Khác)")

    def date(self, target: str, tags: Iterable[str]) -> None:
        found = self.first(tags)
        if not found:
            return
        tag, text = found
        converted = _map_date(text)
        setattr(self.record, target, converted)
        if converted == text:
            self.renamed.append(f"{tag} → {target}")
        else:
            self.notes.append(f'{self.prefix}{tag} "{text}" → {target} "{converted}"')

    def default(self, target: str, value: str) -> None:
        setattr(self.record, target, value)
        self.notes.append(f'{self.prefix}{target} "{value}": không có trong TT 02, đặt mặc định / not in TT 02, '
                          "set by default")

    def unknown(self, known: Iterable[str]) -> None:
        for tag in sorted(set(self.values) - set(known) - self.used):
            self.notes.append(f'{self.prefix}{tag} "{self.values[tag]}": không phải trường TT 02 đã biết, không chuyển '
                              "/ not a known TT 02 field, not converted")


def convert_tt02(meta: Tt02Metadata) -> tuple[Tt05Metadata, list[str]]:
    """Convert TT 02/2019 metadata to the TT 05/2025 form; return it with notes on what was and was not mapped.

    The notes are short, language-neutral where possible, and bilingual otherwise. Record them in the
    PREMIS "metadata modification" event, and keep the original TT 02 record beside the TT 05 one.
    The rules:

    * renamed: FileCode→fileCode, Title→title, TotalDoc→totalDoc, Description→description, …;
    * text values become codes: Maintenance ("Vĩnh viễn", "70 năm", …; other "N năm" → 07),
      Rights/Mode ("Công khai", "Hạn chế" → 02, "Mật"), Language (unknown → 11 Khác), TypeName (unknown →
      32 Khác), ConfidenceLevel, Format;
    * ISO or unpadded dates become DD/MM/YYYY;
    * the TT 02 DocCode (mã định danh văn bản, 25 characters) becomes docId. docCode is built as
      fileCode + "." + DocOrdinal (7 digits);
    * values TT 02 does not have come from elsewhere:
      - document maintenance comes from the hồ sơ;
      - riskRecovery is set to 0, and process to 0 for born-digital documents;
      - the hồ sơ's numberOfPage is the sum of the documents' PageAmount;
      - the hồ sơ's confidenceLevel comes from the documents.
    * Identifier, OrganId, FileCatalog and FileNotation have no TT 05 SIP field. A note records them, and
      the original keeps them. Identifier starts the arcFileCode of the AIP.

    A value that cannot be mapped stays as it is, so that validation names it. An optional value that cannot
    be mapped is dropped, with a note.
    """
    notes: list[str] = []
    hoso = Tt05HoSo(source=meta.source)
    h = _Converter(meta.hoso, hoso, "", notes)
    found = h.first(("FileCode",))
    if found:
        hoso.fileCode = found[1]
        h.renamed.append("FileCode → fileCode")
    elif all(meta.hoso.get(tag) for tag in ("OrganId", "FileCatalog", "FileNotation")):
        hoso.fileCode = f'{meta.hoso["OrganId"]}.{meta.hoso["FileCatalog"]}.{meta.hoso["FileNotation"]}'
        notes.append(f'fileCode "{hoso.fileCode}": ghép từ OrganId.FileCatalog.FileNotation (NĐ 30/2020) / '
                     "composed from OrganId.FileCatalog.FileNotation")
    h.copy("title", ("Title",))
    h.code("maintenance", ("Maintenance",), MAINTENANCE, _MAINTENANCE_WORDS, optional=False)
    h.code("mode", ("Rights", "Mode"), MODE, _MODE_WORDS, optional=False)
    h.language(("Language",))
    h.date("startDate", ("StartDate",))
    h.date("endDate", ("EndDate",))
    for target, tags in _TT02_HOSO_COPY:
        h.copy(target, tags)
    h.code("format", ("Format",), FORMAT, _FORMAT_WORDS, optional=True)
    for tag in _TT02_HOSO_UNMAPPED:
        if meta.hoso.get(tag):
            h.used.add(tag)
            notes.append(f'{tag} "{meta.hoso[tag]}": không có trường TT 05 tương ứng, giữ trong bản gốc TT 02 / '
                         "no TT 05 field, kept in the original TT 02 record")
    h.unknown(TT02_HOSO_TAGS)

    documents: list[Tt05Document] = []
    doc_renamed: list[str] = []
    for number, values in enumerate(meta.documents):
        source = meta.document_sources[number] if number < len(meta.document_sources) else meta.source
        doc = Tt05Document(file=values.get("file"), source=source)
        where = f"{doc.file}: " if doc.file else f"documents[{number}]: "
        d = _Converter(values, doc, where, notes)
        d.used.add("file")
        for target, tags in _TT02_DOCUMENT_COPY:
            d.copy(target, tags)
        ordinal_text = values.get("DocOrdinal", "")
        d.used.add("DocOrdinal")
        ordinal = int(ordinal_text) if ordinal_text.isdigit() else number + 1
        if not ordinal_text.isdigit():
            notes.append(f"{where}DocOrdinal: thiếu hoặc sai, dùng vị trí {ordinal} / "
                         f"missing or not a number, position {ordinal} used")
        if hoso.fileCode:
            doc.docCode = f"{hoso.fileCode}.{ordinal:07d}"
        d.code("typeName", ("TypeName",), TYPE_NAME, _TYPE_WORDS, optional=False, other="32")
        d.date("issuedDate", ("IssuedDate",))
        d.language(("Language",))
        d.code("mode", ("Mode", "Rights"), MODE, _MODE_WORDS, optional=False)
        d.code("confidenceLevel", ("ConfidenceLevel",), CONFIDENCE_LEVEL, _CONFIDENCE_WORDS, optional=True)
        d.code("format", ("Format",), FORMAT, _FORMAT_WORDS, optional=True)
        for tag in _TT02_REPEATED:
            if values.get(tag):
                d.used.add(tag)
                if values[tag] != meta.hoso.get(tag, values[tag]):
                    notes.append(f'{where}{tag} "{values[tag]}" khác hồ sơ "{meta.hoso[tag]}", không chuyển / '
                                 "differs from the file's, not converted")
        d.unknown(TT02_DOCUMENT_TAGS)
        doc.maintenance = hoso.maintenance
        doc.riskRecovery = "0"
        if doc.confidenceLevel in ("01", "03"):
            doc.process = "0"
        doc_renamed.extend(item for item in d.renamed if item not in doc_renamed)
        documents.append(doc)

    if documents:
        notes.append(f"tài liệu, đổi tên trường / documents, fields renamed: {', '.join(doc_renamed)}")
        if hoso.maintenance:
            notes.append(f'tài liệu: maintenance "{hoso.maintenance}" lấy theo hồ sơ / documents: maintenance taken '
                         "from the file")
        notes.append('tài liệu: docCode = fileCode + "." + DocOrdinal (7 chữ số) / documents: docCode = fileCode + '
                     '"." + DocOrdinal (7 digits)')
        notes.append('tài liệu: riskRecovery "0" và process "0" (tài liệu 01/03) đặt mặc định, không có trong TT 02 / '
                     'documents: riskRecovery "0" and process "0" (01/03 documents) set by default, not in TT 02')
        repeated = sorted({tag for values in meta.documents for tag in _TT02_REPEATED if values.get(tag)})
        if repeated:
            notes.append(f"tài liệu: {', '.join(repeated)} lặp lại thông tin hồ sơ, không chuyển / documents: "
                         "repeat the file's values, not converted")
    if hoso.numberOfPage is None and documents and all(doc.numberOfPage for doc in documents):
        pages = [doc.numberOfPage or "" for doc in documents]
        if all(p.isdigit() for p in pages):
            hoso.numberOfPage = str(sum(int(p) for p in pages))
            notes.append(f'numberOfPage "{hoso.numberOfPage}": tổng PageAmount của các tài liệu / sum of the '
                         "documents' PageAmount")
    levels = {doc.confidenceLevel for doc in documents if doc.confidenceLevel}
    if levels:
        level = levels.pop() if len(levels) == 1 else "03"
        hoso.confidenceLevel = level
        notes.append(f'confidenceLevel "{level}" ({CONFIDENCE_LEVEL[level]}): suy ra từ các tài liệu / derived from '
                     "the documents")
    h.default("riskRecovery", "0")
    notes.insert(0, f"hồ sơ, đổi tên trường / file, fields renamed: {', '.join(h.renamed)}")
    result = Tt05Metadata(hoso=hoso, documents=documents, standard=TT02, original=meta, conversion_notes=list(notes))
    return result, notes


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #
def _record_dict(record: Tt05HoSo | Tt05Document, specs: Iterable[FieldSpec]) -> dict[str, str]:
    return {spec.tag: value for spec in specs if (value := record.get(spec.tag)) is not None}


def to_json(meta: Tt05Metadata) -> dict[str, Any]:
    """The hoso.json form ``{"hoso": {...}, "documents": [{"file": ..., ...}]}`` (TT 05 order, absent fields left
    out). It validates against ``schemas/tt05-hoso.schema.json`` when :func:`validate_metadata` finds no problem."""
    if meta.hoso is None:
        raise ValueError("no readable hồ sơ record / không đọc được hồ sơ")
    documents = []
    for doc in meta.documents:
        item: dict[str, str] = {"file": doc.file} if doc.file else {}
        item.update(_record_dict(doc, DOCUMENT_FIELDS))
        documents.append(item)
    return {"hoso": _record_dict(meta.hoso, HOSO_FIELDS), "documents": documents}


def _xml_bytes(record: Tt05HoSo | Tt05Document, specs: Iterable[FieldSpec], xsi_type: str) -> bytes:
    root = etree.Element("simpledc", nsmap={"xsi": XSI})
    root.set(f"{{{XSI}}}type", xsi_type)
    if isinstance(record, Tt05Document) and record.file:
        root.set("file", record.file)
    for tag, value in _record_dict(record, specs).items():
        etree.SubElement(root, tag).text = value
    body: bytes = etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def write_ead_xml(meta: Tt05Metadata, path: Path) -> list[Path]:
    """Write the hồ sơ to ``path`` (``.../EAD.xml``) and each document to ``path.parent / "EAD_doc" / "<n>.xml"``.

    This is the same layout as in the SIP, and the output validates against ``schemas/tt05.xsd``
    (``xsi:type`` HoSo / TaiLieu). Returns the files written. Refuses to leave stale documents behind:
    it fails if ``EAD_doc`` already holds other files.
    """
    if meta.hoso is None:
        raise ValueError("no readable hồ sơ record / không đọc được hồ sơ")
    path = Path(path)
    doc_dir = path.parent / "EAD_doc"
    targets = [doc_dir / f"{number}.xml" for number in range(1, len(meta.documents) + 1)]
    if doc_dir.exists():
        stale = sorted(p.name for p in doc_dir.iterdir() if p not in targets)
        if stale:
            raise FileExistsError(f"{doc_dir} already holds {stale}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_xml_bytes(meta.hoso, HOSO_FIELDS, XSD_TYPE_HOSO))
    if targets:
        doc_dir.mkdir(exist_ok=True)
    for target, doc in zip(targets, meta.documents, strict=True):
        target.write_bytes(_xml_bytes(doc, DOCUMENT_FIELDS, XSD_TYPE_DOCUMENT))
    return [path, *targets]


# --------------------------------------------------------------------------- #
# Schemas (generated from the field tables; `python -m packages.tt05 write-schemas [dir]`)
# --------------------------------------------------------------------------- #
def _describe(spec: FieldSpec) -> str:
    kind = {"number": "Number", "boolean": "Boolean", "date": "Date"}.get(spec.kind, "String")
    size = f" {spec.max_length}" if spec.max_length and kind != "Date" else ""
    requirement = {"R": "bắt buộc / required", "O": "không bắt buộc / optional",
                   "C": f"bắt buộc khi {spec.condition_vi} / required when {spec.condition_en}"}[spec.requirement]
    parts = [f"{spec.name_vi} / {spec.name_en}", f"{kind}{size}", requirement]
    if spec.codes:
        parts.append("; ".join(f"{code} {label}" for code, label in spec.codes.items()))
    if spec.structure_vi:
        parts.append(spec.structure_vi)
    if spec.kind == "date":
        parts.append("DD/MM/YYYY")
    return ". ".join(parts)


def _json_property(spec: FieldSpec) -> dict[str, Any]:
    required = spec.requirement == "R"
    prop: dict[str, Any] = {"description": _describe(spec)}
    string_type: list[str] = ["string", "integer"] if spec.kind == "number" else ["string"]
    if not required:
        string_type = [*string_type, "null"]
    prop["type"] = string_type[0] if len(string_type) == 1 else string_type
    if spec.kind in ("code", "boolean"):
        assert spec.codes
        prop["enum"] = list(spec.codes) + ([] if required else ["", None])
    elif spec.kind == "text":
        assert spec.max_length
        prop["maxLength"] = spec.max_length
        if required:
            prop["pattern"] = r"\S"
    else:
        if spec.max_length and spec.kind != "number":
            prop["maxLength"] = spec.max_length
        prop["pattern"] = f"^({spec.core})$" if required else f"^({spec.core})?$"
        if spec.kind == "number":
            prop["minimum"] = 0
            prop["maximum"] = 10 ** (spec.max_length or 1) - 1
    return prop


def _json_conditions(specs: Iterable[FieldSpec]) -> list[dict[str, Any]]:
    rules = []
    for spec in specs:
        if spec.when is None:
            continue
        trigger, values = spec.when
        rules.append({
            "if": {"properties": {trigger: {"enum": list(values)}}, "required": [trigger]},
            "then": {"properties": {spec.tag: {"type": "string", "minLength": 1}}, "required": [spec.tag]},
        })
    return rules


def _json_record(specs: tuple[FieldSpec, ...], extra: dict[str, Any] | None = None,
                 extra_required: tuple[str, ...] = ()) -> dict[str, Any]:
    properties: dict[str, Any] = dict(extra or {})
    properties.update({spec.tag: _json_property(spec) for spec in specs})
    record: dict[str, Any] = {
        "type": "object",
        "required": [*extra_required, *(spec.tag for spec in specs if spec.requirement == "R")],
        "additionalProperties": False,
        "properties": properties,
    }
    conditions = _json_conditions(specs)
    if conditions:
        record["allOf"] = conditions
    return record


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``"hoso"`` (the whole hoso.json) or ``"document"`` (one document)."""
    if kind == "document":
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE}tt05-document.schema.json",
            "title": "TT 05/2025 tài liệu văn bản (EAD_doc, 21 trường) + tệp / document (21 fields) + payload file",
            **_json_record(DOCUMENT_FIELDS, {"file": {"description": _describe(FILE_FIELD), "type": "string",
                                                      "pattern": f"^({FILE_PATH_CORE})$"}}, ("file",)),
        }
    if kind == "hoso":
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE}tt05-hoso.schema.json",
            "title": "TT 05/2025 hồ sơ (metadata/hoso.json): hồ sơ (EAD, 18 trường) + tài liệu / file (18 fields) "
                     "+ documents",
            "type": "object",
            "required": ["hoso"],
            "additionalProperties": False,
            "properties": {
                "hoso": {"$ref": "#/$defs/hoso"},
                "documents": {"type": "array", "items": {"$ref": "tt05-document.schema.json"}},
            },
            "$defs": {"hoso": _json_record(HOSO_FIELDS)},
        }
    raise ValueError(kind)


def _xsd_simple_type(spec: FieldSpec, name: str) -> str:
    required = spec.requirement == "R"
    facets: list[str] = []
    if spec.kind == "text":
        base = "xs:string"
        if required:
            facets.append(r'<xs:pattern value="[\s\S]*\S[\s\S]*"/>')
        facets.append(f'<xs:maxLength value="{spec.max_length}"/>')
    elif spec.kind in ("code", "boolean"):
        base = "xs:token"
        assert spec.codes
        facets.extend(f'<xs:enumeration value="{code}"/>' for code in [*spec.codes, *([] if required else [""])])
    else:
        base = "xs:token"
        core = spec.core if required else f"({spec.core})?"
        facets.append(f'<xs:pattern value="{core}"/>')
        if spec.max_length and spec.kind not in ("number",):
            facets.append(f'<xs:maxLength value="{spec.max_length}"/>')
    inner = "\n".join(f"      {facet}" for facet in facets)
    return (f'  <xs:simpleType name="{name}">\n    <xs:restriction base="{base}">\n{inner}\n'
            "    </xs:restriction>\n  </xs:simpleType>")


def _xsd_complex_type(name: str, specs: tuple[FieldSpec, ...], prefix: str, attribute: str = "") -> str:
    elements = []
    for spec in specs:
        occurs = "" if spec.requirement == "R" else ' minOccurs="0"'
        doc = _describe(spec).replace("&", "&amp;").replace("<", "&lt;")
        elements.append(f'          <xs:element name="{spec.tag}" type="{prefix}{spec.tag}"{occurs}>\n'
                        f"            <xs:annotation><xs:documentation>{doc}</xs:documentation></xs:annotation>\n"
                        "          </xs:element>")
    body = "\n".join(elements)
    return (f'  <xs:complexType name="{name}">\n    <xs:complexContent>\n      <xs:extension base="Record">\n'
            f"        <xs:all>\n{body}\n        </xs:all>\n{attribute}      </xs:extension>\n"
            "    </xs:complexContent>\n  </xs:complexType>")


def xsd_text() -> str:
    """The XSD of the XML form: root ``simpledc`` with ``xsi:type="HoSo"`` (EAD.xml) or ``"TaiLieu"`` (EAD_doc)."""
    simple = [_xsd_simple_type(spec, f"hoso.{spec.tag}") for spec in HOSO_FIELDS]
    simple += [_xsd_simple_type(spec, f"tailieu.{spec.tag}") for spec in DOCUMENT_FIELDS]
    simple.append('  <xs:simpleType name="tailieu.file">\n    <xs:restriction base="xs:string">\n'
                  f'      <xs:pattern value="{FILE_PATH_CORE}"/>\n    </xs:restriction>\n  </xs:simpleType>')
    file_attribute = '        <xs:attribute name="file" type="tailieu.file" use="required"/>\n'
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!-- Generated by `python -m packages.tt05 write-schemas` from packages/tt05.py; do not edit by hand. -->",
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="unqualified">',
        "  <xs:annotation><xs:documentation>Kho: TT 05/2025/TT-BNV dữ liệu đặc tả hồ sơ (metadata/EAD.xml, "
        'xsi:type="HoSo", 18 trường) và tài liệu văn bản (metadata/EAD_doc/&lt;n&gt;.xml, xsi:type="TaiLieu", '
        "21 trường + thuộc tính file). Cross-field rules (startDate &lt;= endDate, totalDoc, docCode prefix, "
        "payload links) are checked by packages/tt05.py.</xs:documentation></xs:annotation>",
        '  <xs:element name="simpledc" type="Record"/>',
        '  <xs:complexType name="Record" abstract="true"/>',
        _xsd_complex_type(XSD_TYPE_HOSO, HOSO_FIELDS, "hoso."),
        _xsd_complex_type(XSD_TYPE_DOCUMENT, DOCUMENT_FIELDS, "tailieu.", file_attribute),
        *simple,
        "</xs:schema>",
    ]
    return "\n".join(parts) + "\n"


SCHEMA_FILES = {
    "tt05-hoso.schema.json": lambda: json.dumps(json_schema("hoso"), ensure_ascii=False, indent=2) + "\n",
    "tt05-document.schema.json": lambda: json.dumps(json_schema("document"), ensure_ascii=False, indent=2) + "\n",
    "tt05.xsd": xsd_text,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "write-schemas":
        print("usage: python -m packages.tt05 write-schemas [DIR]", file=sys.stderr)
        return 2
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "schemas"
    for name, build in SCHEMA_FILES.items():
        (target / name).write_text(build(), encoding="utf-8")
        print(target / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

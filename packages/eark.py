"""Validation of E-ARK CSIP/SIP/DIP 2.x information packages (folder or ZIP): before ingest, and of every
package Kho writes (``strict=True``).

Thông tư 05/2025/TT-BNV prescribes E-ARK CSIP 2.x packages, so Kho accepts them beside BagIt.
Every failure names the requirement it breaks (``CSIP71: checksum mismatch``) because the
producer has to fix the package against the specification, not against Kho. The checks are
the ones that can be decided from the package alone without network access: the METS
header attributes (CSIP1-CSIP16), the file and metadata references with their sizes and
checksums, the CSIP structural map, the SIP and DIP profile rules (SIP2-SIP18, DIP1-DIP4) and
the folder layout, and the METS schema (METS 1.12.1 + PREMIS + XLink from ``schemas/standards``).
IANA media-type lookups are not done here. With ``strict=True`` (every package Kho writes) the
MUSTs a received package is only warned about are failures (``eark_requirements.STRICT_ONLY``).

Like ``packages.sip``, the package is never modified, links are never followed, ZIPs are
unpacked only into a private temporary folder after every entry name has been checked, and
each referenced file is hashed once, so that ingest can reuse the digests (``EarkReport.files``).
"""

from __future__ import annotations

import errno
import functools
import lzma
import os
import posixpath
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import unquote

from lxml import etree

from format_registry import safexml
from packages.checksums import CHUNK_SIZE, hash_file
from packages.eark_requirements import (
    CHECKSUM_TYPES,
    CONTENT_CATEGORY,
    CONTENT_INFORMATION_TYPE,
    CSIP_NS,
    HEX_LENGTH,
    METS_NS,
    OAIS_PACKAGE_TYPE,
    PROFILE_URL,
    STATUS,
    STRICT_ONLY,
    XLINK_NS,
    normalise_term,
)
from packages.sip import path_is_safe

METS_NAME = "METS.xml"
MAX_ZIP_BYTES = 256 * 1024**3  # uncompressed; a larger transfer should arrive as a folder
MAX_ZIP_ENTRIES = 1_000_000
# Uncompressed / compressed size of a whole archive. DEFLATE reaches ~1030:1 on zeros; real records rarely
# pass 20:1 (Apache POI's zip-bomb guard uses 100:1). Checked only when the archive unpacks to more than
# ZIP_RATIO_FLOOR, so small, very compressible packages (XML, text) are never refused for it.
MAX_ZIP_RATIO = 100.0
ZIP_RATIO_FLOOR = 64 * 1024**2
# Unpacking needs the declared size free, plus this margin for everything else the ingest writes.
ZIP_FREE_SPACE_MARGIN = 256 * 1024**2
# A date without time zone may be local time anywhere (UTC+14 at most); one with a zone gets clock skew only.
FUTURE_SLACK_NAIVE = timedelta(hours=14)
FUTURE_SLACK_AWARE = timedelta(minutes=5)
DATETIME = re.compile(
    r"^(?P<y>-?\d{4,})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?P<f>\.\d+)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?$"
)
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Archive tools add these beside the package folder; they are not part of the package.
ZIP_CLUTTER = ("__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini")

M = f"{{{METS_NS}}}"
C = f"{{{CSIP_NS}}}"
HREF = f"{{{XLINK_NS}}}href"
XLINK_TYPE = f"{{{XLINK_NS}}}type"

# One line a message code, English then Vietnamese, so that reports stay bilingual (as in packages.sip).
MESSAGES: dict[str, tuple[str, str]] = {
    # Kho's own safety rules
    "input-missing": ("package not found", "không tìm thấy gói"),
    "input-type": ("not a folder or a .zip file", "không phải thư mục hoặc tệp .zip"),
    "zip-unreadable": ("the ZIP file cannot be read", "không đọc được tệp ZIP"),
    "duplicate": (
        "the same submission is already stored (set KHO_DUPLICATES=new-version to keep a new version)",
        "gói này đã được lưu trữ (đặt KHO_DUPLICATES=new-version để lưu phiên bản mới)",
    ),
    "zip-unsafe-path": ("unsafe path in the ZIP (escapes the package)", "đường dẫn không an toàn trong tệp ZIP"),
    "zip-link": ("symbolic link in the ZIP", "liên kết tượng trưng trong tệp ZIP"),
    "zip-duplicate": ("entry appears twice in the ZIP", "mục xuất hiện hai lần trong tệp ZIP"),
    "zip-encrypted": ("encrypted ZIP entry", "mục ZIP bị mã hóa"),
    "zip-too-large": ("the ZIP unpacks beyond the size limit", "tệp ZIP giải nén vượt quá giới hạn dung lượng"),
    "zip-too-many": ("the ZIP has too many entries", "tệp ZIP có quá nhiều mục"),
    "zip-ratio": ("the ZIP unpacks to far more than its compressed size (a ZIP bomb?)",
                  "tệp ZIP giải nén lớn bất thường so với kích thước nén (nghi ZIP bomb)"),
    "zip-name-encoding": (
        "ZIP entry name not marked as UTF-8 (read as CP437); Vietnamese names may be garbled",
        "tên mục trong ZIP không đánh dấu UTF-8 (đọc theo CP437); tên tiếng Việt có thể bị lỗi",
    ),
    "symlink": ("symbolic link in the package", "liên kết tượng trưng trong gói"),
    "special-file": ("device, FIFO or socket in the package", "tệp thiết bị/FIFO/socket trong gói"),
    "name-not-utf8": ("file name is not valid UTF-8", "tên tệp không phải UTF-8 hợp lệ"),
    "name-not-nfc": ("file name is not Unicode NFC", "tên tệp không ở dạng Unicode NFC"),
    "unreadable": ("file cannot be read", "không đọc được tệp"),
    "xml-entities": (
        "METS declares XML entities; they are not expanded",
        "METS khai báo thực thể XML; Kho không mở rộng chúng",
    ),
    "mets-schema": (
        "METS is not valid against the METS 1.12.1 schema (with PREMIS 3 and XLink)",
        "METS không hợp lệ theo lược đồ METS 1.12.1",
    ),
    # package structure
    "zip-root": (
        "the ZIP does not unpack to a single package folder with METS.xml",
        "tệp ZIP không giải nén thành một thư mục gói duy nhất có METS.xml",
    ),
    "mets-missing": ("METS.xml is missing in the package root", "thiếu tệp METS.xml ở thư mục gốc của gói"),
    "mets-not-xml": ("METS.xml is not well-formed XML", "METS.xml không phải XML hợp lệ (well-formed)"),
    "mets-not-mets": ("the root element is not mets:mets", "phần tử gốc không phải mets:mets"),
    "no-metadata-folder": ("no metadata/ folder in the package root", "thiếu thư mục metadata/ ở gốc gói"),
    "preservation-md-location": (
        "preservation metadata is not in metadata/preservation/",
        "siêu dữ liệu bảo quản không nằm trong metadata/preservation/",
    ),
    "descriptive-md-location": (
        "descriptive metadata is not in metadata/descriptive/",
        "siêu dữ liệu mô tả không nằm trong metadata/descriptive/",
    ),
    "no-representations-folder": ("no representations/ folder", "thiếu thư mục representations/"),
    "file-in-representations": (
        "file directly in representations/ (expected one folder per representation)",
        "tệp nằm trực tiếp trong representations/ (cần mỗi biểu diễn một thư mục)",
    ),
    "no-data-folder": ("representation has no data/ folder", "biểu diễn không có thư mục data/"),
    "no-rep-mets": ("representation has no METS.xml", "biểu diễn không có tệp METS.xml"),
    # METS root and header
    "objid-missing": ("mets/@OBJID is missing", "thiếu thuộc tính mets/@OBJID"),
    "objid-empty": ("mets/@OBJID is empty", "mets/@OBJID rỗng"),
    "objid-not-folder": (
        "mets/@OBJID differs from the folder name",
        "mets/@OBJID khác tên thư mục",
    ),
    "type-missing": ("mets/@TYPE is missing", "thiếu thuộc tính mets/@TYPE"),
    "type-vocabulary": (
        "mets/@TYPE is not a term of the CSIP content category vocabulary",
        "mets/@TYPE không thuộc bộ từ vựng loại nội dung (content category) của CSIP",
    ),
    "type-spelling": (
        "mets/@TYPE differs from the vocabulary term in case or dashes",
        "mets/@TYPE khác thuật ngữ trong bộ từ vựng về chữ hoa/thường hoặc dấu gạch",
    ),
    "othertype-missing": (
        "mets/@TYPE is OTHER but mets/@csip:OTHERTYPE is missing",
        "mets/@TYPE là OTHER nhưng thiếu mets/@csip:OTHERTYPE",
    ),
    "othertype-empty": (
        "mets/@TYPE is OTHER but mets/@csip:OTHERTYPE is empty",
        "mets/@TYPE là OTHER nhưng mets/@csip:OTHERTYPE rỗng",
    ),
    "othertype-without-other": (
        "mets/@csip:OTHERTYPE is set although mets/@TYPE is not OTHER",
        "có mets/@csip:OTHERTYPE trong khi mets/@TYPE không phải OTHER",
    ),
    "othertype-in-vocabulary": (
        "mets/@csip:OTHERTYPE is a vocabulary term; it belongs in mets/@TYPE",
        "mets/@csip:OTHERTYPE là thuật ngữ có trong bộ từ vựng; phải ghi vào mets/@TYPE",
    ),
    "cit-missing": (
        "mets/@csip:CONTENTINFORMATIONTYPE is missing",
        "thiếu thuộc tính mets/@csip:CONTENTINFORMATIONTYPE",
    ),
    "cit-vocabulary": (
        "mets/@csip:CONTENTINFORMATIONTYPE is not a term of the content information type vocabulary",
        "mets/@csip:CONTENTINFORMATIONTYPE không thuộc bộ từ vựng đặc tả loại thông tin nội dung",
    ),
    "cit-spelling": (
        "mets/@csip:CONTENTINFORMATIONTYPE differs from the vocabulary term in case",
        "mets/@csip:CONTENTINFORMATIONTYPE khác thuật ngữ trong bộ từ vựng về chữ hoa/thường",
    ),
    "othercit-missing": (
        "mets/@csip:CONTENTINFORMATIONTYPE is OTHER but mets/@csip:OTHERCONTENTINFORMATIONTYPE is missing",
        "mets/@csip:CONTENTINFORMATIONTYPE là OTHER nhưng thiếu mets/@csip:OTHERCONTENTINFORMATIONTYPE",
    ),
    "othercit-empty": (
        "mets/@csip:CONTENTINFORMATIONTYPE is OTHER but mets/@csip:OTHERCONTENTINFORMATIONTYPE is empty",
        "mets/@csip:CONTENTINFORMATIONTYPE là OTHER nhưng mets/@csip:OTHERCONTENTINFORMATIONTYPE rỗng",
    ),
    "othercit-without-other": (
        "mets/@csip:OTHERCONTENTINFORMATIONTYPE is set although mets/@csip:CONTENTINFORMATIONTYPE is not OTHER",
        "có mets/@csip:OTHERCONTENTINFORMATIONTYPE trong khi mets/@csip:CONTENTINFORMATIONTYPE không phải OTHER",
    ),
    "othercit-in-vocabulary": (
        "mets/@csip:OTHERCONTENTINFORMATIONTYPE is a vocabulary term; it belongs in CONTENTINFORMATIONTYPE",
        "mets/@csip:OTHERCONTENTINFORMATIONTYPE là thuật ngữ có trong bộ từ vựng; phải ghi vào CONTENTINFORMATIONTYPE",
    ),
    "profile-missing": ("mets/@PROFILE is missing", "thiếu thuộc tính mets/@PROFILE"),
    "profile-empty": ("mets/@PROFILE is empty", "mets/@PROFILE rỗng"),
    "profile-not-url": ("mets/@PROFILE is not a URL", "mets/@PROFILE không phải là URL"),
    "metshdr-missing": ("mets/metsHdr is missing", "thiếu phần tử mets/metsHdr"),
    "createdate-missing": ("metsHdr/@CREATEDATE is missing", "thiếu thuộc tính metsHdr/@CREATEDATE"),
    "createdate-invalid": (
        "metsHdr/@CREATEDATE is not an xs:dateTime",
        "metsHdr/@CREATEDATE không đúng kiểu xs:dateTime",
    ),
    "createdate-future": ("metsHdr/@CREATEDATE is in the future", "metsHdr/@CREATEDATE là thời điểm trong tương lai"),
    "lastmoddate-missing": (
        "metsHdr/@LASTMODDATE is missing (required once the package has been modified)",
        "thiếu metsHdr/@LASTMODDATE (bắt buộc khi gói đã được sửa đổi)",
    ),
    "lastmoddate-invalid": (
        "metsHdr/@LASTMODDATE is not an xs:dateTime",
        "metsHdr/@LASTMODDATE không đúng kiểu xs:dateTime",
    ),
    "lastmoddate-future": (
        "metsHdr/@LASTMODDATE is in the future",
        "metsHdr/@LASTMODDATE là thời điểm trong tương lai",
    ),
    "lastmoddate-before-create": (
        "metsHdr/@LASTMODDATE is earlier than @CREATEDATE",
        "metsHdr/@LASTMODDATE sớm hơn @CREATEDATE",
    ),
    "packagetype-missing": (
        "metsHdr/@csip:OAISPACKAGETYPE is missing",
        "thiếu thuộc tính metsHdr/@csip:OAISPACKAGETYPE",
    ),
    "packagetype-vocabulary": (
        "metsHdr/@csip:OAISPACKAGETYPE is not SIP, AIP, DIP, AIU or AIC",
        "metsHdr/@csip:OAISPACKAGETYPE không phải SIP, AIP, DIP, AIU hoặc AIC",
    ),
    "packagetype-differs": (
        "representation METS declares another OAIS package type than the package METS",
        "METS của biểu diễn khai báo loại gói OAIS khác với METS của gói",
    ),
    "agent-missing": ("metsHdr has no agent", "metsHdr không có agent"),
    "agent-software-missing": (
        "no metsHdr/agent records the software that created the package",
        "không có metsHdr/agent ghi nhận phần mềm đã tạo gói",
    ),
    "agent-role": ("the software agent's @ROLE is not CREATOR", "@ROLE của agent phần mềm không phải CREATOR"),
    "agent-type": ("the software agent's @TYPE is not OTHER", "@TYPE của agent phần mềm không phải OTHER"),
    "agent-othertype": (
        "the software agent's @OTHERTYPE is not SOFTWARE",
        "@OTHERTYPE của agent phần mềm không phải SOFTWARE",
    ),
    "agent-name": ("the software agent has no name", "agent phần mềm không có tên (name)"),
    "agent-note": ("the software agent has no note", "agent phần mềm không có ghi chú (note)"),
    "agent-notetype": (
        "the software agent has no note with @csip:NOTETYPE='SOFTWARE VERSION'",
        "agent phần mềm không có note với @csip:NOTETYPE='SOFTWARE VERSION'",
    ),
    "sip-profile": (
        "the package declares OAIS type SIP but not the E-ARK SIP profile; checked against CSIP only",
        "gói khai báo loại SIP nhưng không dùng hồ sơ E-ARK SIP; chỉ được kiểm tra theo CSIP",
    ),
    "sip-packagetype": (
        "an E-ARK SIP must declare metsHdr/@csip:OAISPACKAGETYPE='SIP'",
        "gói E-ARK SIP phải khai báo metsHdr/@csip:OAISPACKAGETYPE='SIP'",
    ),
    "sip-submitter-missing": (
        "no submitting agent (ROLE='CREATOR', TYPE='ORGANIZATION' or 'INDIVIDUAL')",
        "không có agent nộp gói (ROLE='CREATOR', TYPE='ORGANIZATION' hoặc 'INDIVIDUAL')",
    ),
    "sip-submitter-name": ("the submitting agent has no name", "agent nộp gói không có tên"),
    "dip-profile": (
        "the package declares OAIS type DIP but not the E-ARK DIP profile",
        "gói khai báo loại DIP nhưng không dùng hồ sơ E-ARK DIP",
    ),
    "dip-packagetype": (
        "an E-ARK DIP must declare metsHdr/@csip:OAISPACKAGETYPE='DIP'",
        "gói E-ARK DIP phải khai báo metsHdr/@csip:OAISPACKAGETYPE='DIP'",
    ),
    "dip-objid-reused": (
        "the DIP's mets/@OBJID is the identifier of the package it was made from",
        "mets/@OBJID của DIP trùng với định danh của gói dùng để tạo ra nó",
    ),
    "dip-dmd-status": ("dmdSec/@STATUS of a DIP is not CURRENT", "dmdSec/@STATUS của DIP không phải CURRENT"),
    "id-duplicate": ("@ID is used more than once in the METS document", "@ID được dùng nhiều lần trong tài liệu METS"),
    # file and metadata references
    "filesec-missing": ("METS has no fileSec", "METS không có fileSec"),
    "filesec-multiple": ("METS has more than one fileSec", "METS có nhiều hơn một fileSec"),
    "filesec-id": ("fileSec/@ID is missing", "thiếu fileSec/@ID"),
    "filegrp-use": ("fileGrp/@USE is missing", "thiếu fileGrp/@USE"),
    "filegrp-id": ("fileGrp/@ID is missing", "thiếu fileGrp/@ID"),
    "filegrp-empty": ("fileGrp has no file", "fileGrp không có file"),
    "filegrp-cit-missing": (
        "representation fileGrp has no @csip:CONTENTINFORMATIONTYPE",
        "fileGrp của biểu diễn thiếu @csip:CONTENTINFORMATIONTYPE",
    ),
    "filegrp-cit-vocabulary": (
        "fileGrp/@csip:CONTENTINFORMATIONTYPE is not a vocabulary term",
        "fileGrp/@csip:CONTENTINFORMATIONTYPE không thuộc bộ từ vựng",
    ),
    "filegrp-documentation-missing": (
        "no fileGrp with @USE='Documentation' (an empty one says the package has none)",
        "không có fileGrp với @USE='Documentation' (fileGrp rỗng nghĩa là gói không có tài liệu kèm theo)",
    ),
    "filegrp-schemas-missing": (
        "no fileGrp with @USE='Schemas' (an empty one says the package has none)",
        "không có fileGrp với @USE='Schemas' (fileGrp rỗng nghĩa là gói không có lược đồ)",
    ),
    "filegrp-representations-missing": (
        "files under representations/ but no fileGrp whose @USE starts with 'Representations'",
        "có tệp trong representations/ nhưng không có fileGrp nào có @USE bắt đầu bằng 'Representations'",
    ),
    "filegrp-use-path": (
        "file outside the folder its representation fileGrp/@USE names",
        "tệp nằm ngoài thư mục mà fileGrp/@USE của biểu diễn chỉ ra",
    ),
    "file-unreferenced": (
        "file is not referenced by any METS document",
        "tệp không được tham chiếu trong tài liệu METS nào",
    ),
    "id-missing": ("@ID is missing", "thiếu @ID"),
    "md-created": ("@CREATED is missing", "thiếu @CREATED"),
    "md-status": ("@STATUS is not CURRENT or SUPERSEDED", "@STATUS không phải CURRENT hoặc SUPERSEDED"),
    "mdtype-missing": ("mdRef/@MDTYPE is missing", "thiếu mdRef/@MDTYPE"),
    "mimetype-missing": ("@MIMETYPE is missing", "thiếu @MIMETYPE"),
    "size-missing": ("@SIZE is missing", "thiếu @SIZE"),
    "size-invalid": ("@SIZE is not a number of bytes", "@SIZE không phải số byte"),
    "size-mismatch": ("file size differs from @SIZE", "kích thước tệp khác @SIZE"),
    "created-missing": ("@CREATED is missing", "thiếu @CREATED"),
    "created-invalid": ("@CREATED is not an xs:dateTime", "@CREATED không đúng kiểu xs:dateTime"),
    "checksum-missing": ("@CHECKSUM is missing", "thiếu @CHECKSUM"),
    "checksum-malformed": (
        "@CHECKSUM is not a hex digest of that type",
        "@CHECKSUM không phải chuỗi băm hex đúng loại",
    ),
    "checksum-mismatch": ("checksum mismatch", "sai giá trị băm"),
    "checksumtype-missing": ("@CHECKSUMTYPE is missing", "thiếu @CHECKSUMTYPE"),
    "checksumtype-invalid": ("@CHECKSUMTYPE is not a METS checksum type", "@CHECKSUMTYPE không phải loại băm của METS"),
    "checksumtype-unverifiable": (
        "Kho cannot verify this checksum type",
        "Kho không kiểm tra được loại băm này",
    ),
    "flocat-missing": ("file has no FLocat", "file không có FLocat"),
    "flocat-multiple": ("file has more than one FLocat", "file có nhiều hơn một FLocat"),
    "loctype": ("@LOCTYPE is not URL", "@LOCTYPE không phải URL"),
    "xlinktype": ("@xlink:type is not simple", "@xlink:type không phải simple"),
    "xlinktype-missing": (
        "@xlink:type is missing (the schema default is simple)",
        "thiếu @xlink:type (mặc định của lược đồ là simple)",
    ),
    "href-missing": ("@xlink:href is missing", "thiếu @xlink:href"),
    "href-unsafe": (
        "@xlink:href is not a relative path inside the package",
        "@xlink:href không phải đường dẫn tương đối bên trong gói",
    ),
    "href-not-found": (
        "the file referenced by @xlink:href does not exist",
        "tệp được @xlink:href trỏ tới không tồn tại",
    ),
    # structural map
    "structmap-missing": ("METS has no structMap", "METS không có structMap"),
    "structmap-csip-missing": ("no structMap with @LABEL='CSIP'", "không có structMap với @LABEL='CSIP'"),
    "structmap-csip-multiple": ("more than one structMap with @LABEL='CSIP'", "có nhiều structMap với @LABEL='CSIP'"),
    "structmap-type": ("the CSIP structMap/@TYPE is not PHYSICAL", "structMap CSIP có @TYPE khác PHYSICAL"),
    "structmap-div": (
        "the CSIP structMap must contain exactly one main div",
        "structMap CSIP phải có đúng một div chính",
    ),
    "metadata-div-missing": (
        "the CSIP structMap has no div with @LABEL='Metadata'",
        "structMap CSIP không có div với @LABEL='Metadata'",
    ),
    "metadata-div-label": (
        "the Metadata division's @LABEL is not spelt 'Metadata'",
        "@LABEL của div Metadata không viết đúng là 'Metadata'",
    ),
    "documentation-div-missing": (
        "the CSIP structMap has no div with @LABEL='Documentation'",
        "structMap CSIP không có div với @LABEL='Documentation'",
    ),
    "schemas-div-missing": (
        "the CSIP structMap has no div with @LABEL='Schemas'",
        "structMap CSIP không có div với @LABEL='Schemas'",
    ),
    "rep-div-folder": (
        "representation division @LABEL names no representation folder of the package",
        "@LABEL của div biểu diễn không chỉ tới thư mục biểu diễn nào trong gói",
    ),
    "rep-div-group": (
        "representation division points at a fileGrp whose @USE is not its @LABEL",
        "div biểu diễn trỏ tới fileGrp có @USE khác @LABEL của div",
    ),
    "rep-div-empty": (
        "representation division has neither mptr nor fptr",
        "div biểu diễn không có mptr hay fptr",
    ),
    "mptr-title": (
        "mptr/@xlink:title does not name a fileGrp of this METS",
        "mptr/@xlink:title không phải ID của fileGrp nào trong METS này",
    ),
    "fptr-unresolved": (
        "fptr/@FILEID does not point to a fileGrp or file of this METS",
        "fptr/@FILEID không trỏ tới fileGrp hoặc file nào của METS này",
    ),
    "filegrp-not-in-structmap": (
        "fileGrp is not referenced from the CSIP structMap",
        "fileGrp không được tham chiếu trong structMap CSIP",
    ),
}


@dataclass(frozen=True)
class EarkProblem:
    """One requirement a package breaks (a failure) or should meet (a warning)."""

    requirement: str  # e.g. "CSIP1"; "KHO-…" for Kho's own safety rules
    code: str  # key of MESSAGES
    detail: str = ""
    path: str | None = None  # relative to the package root (or the ZIP entry name)

    @property
    def message(self) -> str:
        return MESSAGES[self.code][0]

    @property
    def message_vi(self) -> str:
        return MESSAGES[self.code][1]

    @property
    def text(self) -> str:
        """``REQUIREMENT-ID: reason`` in English, e.g. ``CSIP1: mets/@OBJID is missing``."""
        return f"{self.requirement}: {self.message}"

    def line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.requirement}: {where}{self.message} / {self.message_vi}{extra}"

    def to_dict(self) -> dict[str, str | None]:
        return {**asdict(self), "message_en": self.message, "message_vi": self.message_vi}


@dataclass
class EarkFile:
    """A file a METS document declares, with what it declares and what Kho found."""

    path: str  # relative to the package root
    size: int  # bytes found
    declared_size: int | None
    checksum_type: str | None  # as declared, e.g. "SHA-256"
    checksum: str | None  # as declared, lower case
    verified: bool  # the declared checksum was computed and matched
    digests: dict[str, str]  # computed by Kho in one read (declared algorithm + keep_digests); trust with `verified`
    mimetype: str | None
    use: str  # fileGrp/@USE, or dmdSec / digiprovMD / rightsMD / ...
    mets: str  # the METS document that declares it


@dataclass
class Representation:
    name: str
    mets: str | None  # representations/<name>/METS.xml when present
    objid: str | None
    data_files: int


@dataclass
class EarkReport:
    path: str
    package_name: str | None = None
    objid: str | None = None
    kind: str | None = None  # metsHdr/@csip:OAISPACKAGETYPE: SIP, AIP, DIP, AIU, AIC
    profile: str | None = None
    specification: str = "CSIP"  # CSIP, or SIP/AIP/DIP when mets/@PROFILE names that E-ARK profile
    creator_software: str | None = None
    failures: list[EarkProblem] = field(default_factory=list)
    warnings: list[EarkProblem] = field(default_factory=list)
    representations: list[Representation] = field(default_factory=list)
    files: list[EarkFile] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.failures

    def failed_requirements(self) -> set[str]:
        return {p.requirement for p in self.failures}

    def warned_requirements(self) -> set[str]:
        return {p.requirement for p in self.warnings}

    def reason(self) -> str:
        """One human line for the archivist (English / Vietnamese)."""
        if not self.failures:
            return "valid / hợp lệ"
        more = len(self.failures) - 1
        return self.failures[0].line() + (f" (+{more} more / và {more} lỗi khác)" if more else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "package_name": self.package_name,
            "objid": self.objid,
            "kind": self.kind,
            "profile": self.profile,
            "specification": self.specification,
            "creator_software": self.creator_software,
            "valid": self.valid,
            "reason": self.reason(),
            "failures": [p.to_dict() for p in self.failures],
            "warnings": [p.to_dict() for p in self.warnings],
            "representations": [asdict(r) for r in self.representations],
            "files": [asdict(f) for f in self.files],
        }


# --------------------------------------------------------------------------------------------- XML


STANDARD_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "standards"


@functools.cache
def mets_schema() -> etree.XMLSchema | None:
    """METS 1.12.1 + PREMIS 3/2.2 + XLink, from the repo's ``schemas/standards`` (no network). The E-ARK
    profile is built on METS: a package whose METS the METS schema refuses is not a CSIP package."""
    path = STANDARD_SCHEMAS / "mets-premis.xsd"
    if not path.is_file():
        return None
    return safexml.schema(path)  # by name: the XSD's imports are relative


def parse_xml(source: Path | IO[bytes]) -> etree._ElementTree:
    """Parse untrusted XML safely (``format_registry.safexml``: METS comes from outside the archive);
    raises ``etree.XMLSyntaxError`` when it is not well-formed."""
    return safexml.parse(source)


def _declares_entities(tree: etree._ElementTree) -> bool:
    dtd = tree.docinfo.internalDTD
    return dtd is not None and any(True for _ in dtd.iterentities())


def _parse_datetime(value: str) -> datetime | None:
    """xs:dateTime -> datetime (aware if the value has a zone), None if it is not one."""
    match = DATETIME.match(value.strip())
    if not match:
        return None
    parts = match.groupdict()
    fraction = int((parts["f"] or ".0")[1:7].ljust(6, "0"))
    hour = int(parts["h"])
    end_of_day = hour == 24 and parts["mi"] == parts["s"] == "00" and fraction == 0  # "24:00:00" is allowed
    try:
        moment = datetime(int(parts["y"]), int(parts["mo"]), int(parts["d"]), 0 if end_of_day else hour,
                          int(parts["mi"]), int(parts["s"]), fraction)
        moment += timedelta(days=1 if end_of_day else 0)
    except (ValueError, OverflowError):
        return None
    zone = parts["tz"]
    if zone == "Z":
        return moment.replace(tzinfo=UTC)
    if zone:
        sign = 1 if zone[0] == "+" else -1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        try:  # 0001-01-01T00:00:00+01:00 falls before datetime.min once moved to UTC
            return (moment - sign * offset).replace(tzinfo=UTC)
        except OverflowError:
            return None
    return moment


def _in_future(moment: datetime, now: datetime) -> bool:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC) > now + FUTURE_SLACK_NAIVE
    return moment > now + FUTURE_SLACK_AWARE


def _vocabulary_match(value: str, vocabulary: Iterable[str]) -> tuple[bool, str | None]:
    """(exact match, the term it matches when only case/dashes/spacing differ)."""
    terms = tuple(vocabulary)
    if value in terms:
        return True, value
    key = normalise_term(value)
    return False, next((term for term in terms if normalise_term(term) == key), None)


# ------------------------------------------------------------------------------------ the package


@dataclass(frozen=True)
class _Rules:
    """Requirement ids for one kind of reference (file/FLocat, dmdSec/mdRef, ...)."""

    id: str
    mimetype: str
    size: str
    created: str
    checksum: str
    checksumtype: str
    loctype: str
    xlinktype: str
    href: str
    mdtype: str | None = None


FILE_RULES = _Rules("CSIP67", "CSIP68", "CSIP69", "CSIP70", "CSIP71", "CSIP72", "CSIP77", "CSIP78", "CSIP79")
DMD_RULES = _Rules("CSIP18", "CSIP26", "CSIP27", "CSIP28", "CSIP29", "CSIP30", "CSIP22", "CSIP23", "CSIP24", "CSIP25")
DIGIPROV_RULES = _Rules("CSIP33", "CSIP40", "CSIP41", "CSIP42", "CSIP43", "CSIP44", "CSIP36", "CSIP37", "CSIP38",
                        "CSIP39")
RIGHTS_RULES = _Rules("CSIP46", "CSIP53", "CSIP54", "CSIP55", "CSIP56", "CSIP57", "CSIP49", "CSIP50", "CSIP51",
                      "CSIP52")
# techMD/sourceMD have no CSIP requirements of their own; their references are still verified.
OTHER_MD_RULES = _Rules(*(["CSIP31"] * 10))
ID_REQUIREMENT = {"dmdSec": "CSIP18", "digiprovMD": "CSIP33", "rightsMD": "CSIP46", "fileSec": "CSIP59",
                  "fileGrp": "CSIP65", "file": "CSIP67", "structMap": "CSIP83", "div": "CSIP85"}
# structMap division label -> (its @ID requirement, its fptr/@FILEID requirement, fileGrp-not-referenced requirement)
DIVISIONS = {"Metadata": ("CSIP89", "CSIP88", None), "Documentation": ("CSIP94", "CSIP116", "CSIP96"),
             "Schemas": ("CSIP98", "CSIP118", "CSIP100"), "Representations": ("CSIP102", "CSIP119", "CSIP104")}


class _Package:
    """One validation run over an unpacked package folder."""

    def __init__(self, root: Path, name: str, report: EarkReport, keep: list[str], now: datetime,
                 strict: bool = False) -> None:
        self.root = root
        self.name = name
        self.report = report
        self.keep = keep
        self.now = now
        self.strict = strict
        self.files: dict[str, int] = {}  # relative path -> size, regular files only
        self.dirs: set[str] = set()
        self.referenced: set[str] = set()
        self.digests: dict[str, dict[str, str]] = {}
        self.declared: dict[str, EarkFile] = {}
        self._folded: dict[str, str] | None = None

    def fail(self, requirement: str, code: str, detail: str = "", path: str | None = None) -> None:
        self.report.failures.append(EarkProblem(requirement, code, detail, path))

    def warn(self, requirement: str, code: str, detail: str = "", path: str | None = None) -> None:
        self.report.warnings.append(EarkProblem(requirement, code, detail, path))

    def must(self, requirement: str, code: str, detail: str = "", path: str | None = None) -> None:
        """A breach tolerated in a received package (a warning) but not in one Kho wrote (``strict``)."""
        assert requirement in STRICT_ONLY, requirement
        (self.fail if self.strict else self.warn)(requirement, code, detail, path)

    # ---------------------------------------------------------------- inventory and hashing

    def inventory(self) -> None:
        """Walk the package without following links; every later existence check uses this list."""
        stack = [self.root]
        while stack:
            directory = stack.pop()
            try:
                listing = list(os.scandir(directory))
            except OSError as exc:
                self.fail("KHO-FS", "unreadable", str(exc), directory.relative_to(self.root).as_posix())
                continue
            for entry in listing:
                full = Path(entry.path)
                rel = full.relative_to(self.root).as_posix()
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    self.fail("KHO-FS", "name-not-utf8", path=repr(rel))
                    continue
                if unicodedata.normalize("NFC", rel) != rel:
                    self.warn("KHO-FS", "name-not-nfc", f"NFC: {unicodedata.normalize('NFC', rel)}", rel)
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    self.fail("KHO-FS", "symlink", path=rel)
                elif stat.S_ISDIR(mode):
                    self.dirs.add(rel)
                    stack.append(full)
                elif stat.S_ISREG(mode):
                    self.files[rel] = entry.stat(follow_symlinks=False).st_size
                else:
                    self.fail("KHO-FS", "special-file", path=rel)

    def hash(self, relpath: str, algorithms: list[str]) -> dict[str, str] | None:
        known = self.digests.setdefault(relpath, {})
        wanted = [a for a in dict.fromkeys([*algorithms, *self.keep]) if a not in known]
        if wanted:
            try:
                known.update(hash_file(self.root / relpath, wanted))
            except OSError as exc:
                self.fail("KHO-FS", "unreadable", str(exc), relpath)
                del self.digests[relpath]
                return None
        return known

    def near_miss(self, relpath: str) -> str:
        """A hint when a reference misses only by letter case or Unicode normalisation (Windows/macOS producers)."""
        if self._folded is None:
            self._folded = {unicodedata.normalize("NFC", f).casefold(): f for f in self.files}
        candidate = self._folded.get(unicodedata.normalize("NFC", relpath).casefold())
        return f"found {candidate!r}, which differs in letter case or Unicode form" if candidate else ""

    def missing_detail(self, href: str, target: str) -> str:
        return "; ".join(part for part in (repr(href), self.near_miss(target)) if part)

    def resolve(self, base: str, href: str) -> str | None:
        """METS reference -> package-relative path; None unless it is a relative path inside the package.

        References are URLs, so percent-escapes are decoded; the raw text is tried as well for
        files whose names really contain '%'. A "file:" prefix without authority is accepted.
        """
        if "\\" in href or "\x00" in href:
            return None
        candidates: list[str] = []
        for raw in dict.fromkeys([unquote(href), href]):
            text = raw[5:] if raw.startswith("file:") and not raw.startswith("file://") else raw
            if text.startswith("/") or SCHEME.match(text):  # absolute, another scheme, or a drive letter
                return None
            joined = posixpath.normpath(posixpath.join(base, text))
            if not path_is_safe(joined):
                return None
            candidates.append(joined)
        return next((c for c in candidates if c in self.files), candidates[0])

    # ---------------------------------------------------------------- checks

    def check_structure(self) -> None:
        if "metadata" not in self.dirs:
            self.warn("CSIPSTR5", "no-metadata-folder")
        if "representations" not in self.dirs:
            self.warn("CSIPSTR9", "no-representations-folder")
            return
        for rel in sorted(self.files):
            if posixpath.dirname(rel) == "representations":
                self.warn("CSIPSTR10", "file-in-representations", path=rel)
        for rep in sorted(d for d in self.dirs if posixpath.dirname(d) == "representations"):
            name = posixpath.basename(rep)
            mets = f"{rep}/{METS_NAME}"
            if f"{rep}/data" not in self.dirs:
                self.warn("CSIPSTR11", "no-data-folder", path=rep)
            if mets not in self.files:
                self.warn("CSIPSTR12", "no-rep-mets", path=rep)
            data_files = sum(1 for f in self.files if f.startswith(f"{rep}/data/"))
            self.report.representations.append(
                Representation(name, mets if mets in self.files else None, None, data_files)
            )

    def load_mets(self, relpath: str, structure_requirement: str) -> etree._Element | None:
        try:
            tree = parse_xml(self.root / relpath)
        except etree.XMLSyntaxError as exc:
            self.fail(structure_requirement, "mets-not-xml", str(exc), relpath)
            return None
        except OSError as exc:
            self.fail("KHO-FS", "unreadable", str(exc), relpath)
            return None
        if _declares_entities(tree):
            self.fail("KHO-XML", "xml-entities", path=relpath)
        schema = mets_schema() if not _declares_entities(tree) else None  # entity nodes: refused above already
        if schema is not None:
            try:
                valid = schema.validate(tree)
                errors = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5]]
            except etree.Error as exc:
                valid, errors = False, [str(exc)]
            if not valid:
                self.fail("KHO-XML", "mets-schema", "; ".join(errors), relpath)
        root = tree.getroot()
        if root.tag != f"{M}mets":
            self.fail(structure_requirement, "mets-not-mets", f"found {root.tag}", relpath)
            return None
        return root

    def check_mets(self, mets: etree._Element, relpath: str, base: str, folder: str, package_level: bool) -> None:
        self.check_root_attributes(mets, relpath, folder, package_level)
        self.check_header(mets, relpath, package_level)
        if package_level:
            self.check_dip(mets, relpath)
        self.check_ids(mets, relpath)
        self.check_metadata_sections(mets, relpath, base)
        self.check_file_section(mets, relpath, base, package_level)
        self.check_struct_map(mets, relpath, base, package_level)

    def check_root_attributes(self, mets: etree._Element, rel: str, folder: str, package_level: bool) -> None:
        objid = mets.get("OBJID")
        if objid is None:
            self.fail("CSIP1", "objid-missing", path=rel)
        elif not objid.strip():
            self.fail("CSIP1", "objid-empty", path=rel)
        elif objid != folder:
            # CSIP1 "should be the name of the root / representation folder": a SHOULD, graded WARNING by the corpus.
            self.warn("CSIP1", "objid-not-folder", f"OBJID {objid!r}, folder {folder!r}", rel)

        content_type, other_type = mets.get("TYPE"), mets.get(f"{C}OTHERTYPE")
        if content_type is None:
            self.fail("CSIP2", "type-missing", path=rel)
        elif content_type.casefold() == "other":
            if content_type not in ("OTHER", "Other"):
                self.warn("CSIP2", "type-spelling", f"{content_type!r}, vocabulary: 'OTHER'", rel)
            # The corpus files "TYPE=OTHER needs OTHERTYPE" under CSIP2 (its CSIP3 test case defers to it).
            if other_type is None:
                self.fail("CSIP2", "othertype-missing", path=rel)
            elif not other_type.strip():
                self.fail("CSIP2", "othertype-empty", path=rel)
            elif other_type.casefold() != "other" and _vocabulary_match(other_type, CONTENT_CATEGORY)[1]:
                self.fail("CSIP3", "othertype-in-vocabulary", repr(other_type), rel)
        else:
            exact, term = _vocabulary_match(content_type, CONTENT_CATEGORY)
            if term is None:
                self.fail("CSIP2", "type-vocabulary", repr(content_type), rel)
            elif not exact:
                self.warn("CSIP2", "type-spelling", f"{content_type!r}, vocabulary: {term!r}", rel)
            if other_type is not None:
                self.fail("CSIP3", "othertype-without-other", f"TYPE {content_type!r}", rel)

        cit, other_cit = mets.get(f"{C}CONTENTINFORMATIONTYPE"), mets.get(f"{C}OTHERCONTENTINFORMATIONTYPE")
        if cit is None:
            # SHOULD in the package METS (WARNING), MUST in a representation METS (corpus CSIP4 rules 1, 2).
            (self.warn if package_level else self.fail)("CSIP4", "cit-missing", "", rel)
        else:
            exact, term = _vocabulary_match(cit, CONTENT_INFORMATION_TYPE)
            if term is None:
                self.fail("CSIP4", "cit-vocabulary", repr(cit), rel)
            elif not exact:
                self.warn("CSIP4", "cit-spelling", f"{cit!r}, vocabulary: {term!r}", rel)
        if cit is not None and cit.upper() == "OTHER":
            # As with TYPE/OTHERTYPE, the corpus grades the missing companion attribute under CSIP4 (rules 4, 5).
            if other_cit is None:
                self.fail("CSIP4", "othercit-missing", path=rel)
            elif not other_cit.strip():
                self.fail("CSIP4", "othercit-empty", path=rel)
            elif _vocabulary_match(other_cit, CONTENT_INFORMATION_TYPE)[1]:
                self.fail("CSIP5", "othercit-in-vocabulary", repr(other_cit), rel)
        elif other_cit is not None:
            self.fail("CSIP5", "othercit-without-other", f"CONTENTINFORMATIONTYPE {cit!r}", rel)

        profile = mets.get("PROFILE")
        if profile is None:
            self.fail("CSIP6", "profile-missing", path=rel)
        elif not profile.strip():
            self.fail("CSIP6", "profile-empty", path=rel)
        elif not URI.match(profile.strip()):
            self.warn("CSIP6", "profile-not-url", repr(profile), rel)
        if package_level:
            self.report.objid = objid
            self.report.profile = profile
            match = PROFILE_URL.match((profile or "").strip())
            self.report.specification = match.group("spec").upper() if match else "CSIP"

    def check_header(self, mets: etree._Element, rel: str, package_level: bool) -> None:
        header = mets.find(f"{M}metsHdr")
        if header is None:
            self.fail("CSIP117", "metshdr-missing", path=rel)
            return  # CSIP7-CSIP16 all live inside metsHdr: one failure, not eleven
        created = self.check_date(header, "CREATEDATE", "CSIP7", rel, required=True)
        modified = self.check_date(header, "LASTMODDATE", "CSIP8", rel, required=False)
        if (created is not None and modified is not None
                and (created.tzinfo is None) == (modified.tzinfo is None) and modified < created):
            self.warn("CSIP8", "lastmoddate-before-create", path=rel)

        kind = header.get(f"{C}OAISPACKAGETYPE")
        if kind is None:
            self.fail("CSIP9", "packagetype-missing", path=rel)
        elif kind not in OAIS_PACKAGE_TYPE:
            self.fail("CSIP9", "packagetype-vocabulary", repr(kind), rel)
        elif package_level:
            self.report.kind = kind
        elif self.report.kind and kind != self.report.kind:
            self.warn("CSIP9", "packagetype-differs", f"{kind} vs {self.report.kind}", rel)

        agents = header.findall(f"{M}agent")
        software = self.check_software_agent(agents, rel)
        if package_level:
            self.report.creator_software = software
            self.check_sip(agents, kind, rel)

    def check_date(self, header: etree._Element, name: str, requirement: str, rel: str,
                   required: bool) -> datetime | None:
        value = header.get(name)
        code = name.lower()
        if value is None:
            # CREATEDATE is a MUST; the corpus grades a missing LASTMODDATE (CSIP8 rule 1) as a WARNING.
            (self.fail if required else self.warn)(requirement, f"{code}-missing", "", rel)
            return None
        moment = _parse_datetime(value)
        if moment is None:
            self.fail(requirement, f"{code}-invalid", repr(value), rel)
            return None
        if _in_future(moment, self.now):
            # A future LASTMODDATE is an ERROR in the corpus (CSIP8 rule 2); CSIP7's rule for it is withdrawn upstream.
            (self.warn if required else self.fail)(requirement, f"{code}-future", value, rel)
        return moment

    def check_software_agent(self, agents: list[etree._Element], rel: str) -> str | None:
        """CSIP10-CSIP16: the agent that records the software which created the package.

        When no agent has all three of ROLE=CREATOR, TYPE=OTHER, OTHERTYPE=SOFTWARE, the one
        closest to it (OTHERTYPE=SOFTWARE, else TYPE=OTHER) is blamed attribute by attribute,
        so that the report names the requirement the producer actually missed.
        """
        if not agents:
            self.fail("CSIP10", "agent-missing", path=rel)
            return None
        wanted = {"ROLE": ("CREATOR", "CSIP11", "agent-role"), "TYPE": ("OTHER", "CSIP12", "agent-type"),
                  "OTHERTYPE": ("SOFTWARE", "CSIP13", "agent-othertype")}
        candidates = (
            [a for a in agents if all(a.get(key) == value for key, (value, _, _) in wanted.items())]
            or [a for a in agents if a.get("OTHERTYPE") == "SOFTWARE"]
            or [a for a in agents if a.get("TYPE") == "OTHER"]
        )
        if not candidates:
            self.fail("CSIP10", "agent-software-missing", path=rel)
            return None
        agent = candidates[0]
        for key, (value, requirement, code) in wanted.items():
            if agent.get(key) != value:
                self.fail(requirement, code, f"@{key}={agent.get(key)!r}", rel)
        name = (agent.findtext(f"{M}name") or "").strip()
        notes = agent.findall(f"{M}note")
        version = next((n for n in notes if n.get(f"{C}NOTETYPE") == "SOFTWARE VERSION"), None)
        if not name:
            self.fail("CSIP14", "agent-name", path=rel)
        if not notes:
            self.fail("CSIP15", "agent-note", path=rel)
        elif version is None:
            self.fail("CSIP16", "agent-notetype", path=rel)
        text = " ".join(part for part in (name, (version.text or "").strip() if version is not None else "") if part)
        return text or None

    def check_sip(self, agents: list[etree._Element], kind: str | None, rel: str) -> None:
        """E-ARK SIP rules, applied when mets/@PROFILE names the E-ARK SIP profile."""
        if self.report.specification != "SIP":
            if kind == "SIP" and (self.report.profile or "").strip():  # no profile at all is CSIP6's failure
                self.warn("SIP2", "sip-profile", repr(self.report.profile), rel)
            return
        if kind in OAIS_PACKAGE_TYPE and kind != "SIP":  # a value outside the vocabulary is CSIP9's failure
            self.fail("SIP4", "sip-packagetype", repr(kind), rel)
        submitters = [a for a in agents
                      if a.get("ROLE") == "CREATOR" and a.get("TYPE") in ("ORGANIZATION", "INDIVIDUAL")]
        if not submitters:
            self.fail("SIP15", "sip-submitter-missing", path=rel)
        elif not any((a.findtext(f"{M}name") or "").strip() for a in submitters):
            self.fail("SIP18", "sip-submitter-name", path=rel)

    def check_dip(self, mets: etree._Element, rel: str) -> None:
        """E-ARK DIP rules (DIP1-DIP4), applied when mets/@PROFILE names the DIP profile or the package
        declares itself a DIP."""
        kind = self.report.kind
        if self.report.specification != "DIP" and kind != "DIP":
            return
        if self.report.specification != "DIP":
            self.must("DIP2", "dip-profile", repr(self.report.profile), rel)
        elif kind in OAIS_PACKAGE_TYPE and kind != "DIP":  # a value outside the vocabulary is CSIP9's failure
            self.fail("DIP3", "dip-packagetype", repr(kind), rel)
        objid = (mets.get("OBJID") or "").strip()
        if not objid:
            self.fail("DIP1", "objid-missing" if mets.get("OBJID") is None else "objid-empty", path=rel)
        else:
            sources = {(r.text or "").strip() for r in mets.iterfind(f"{M}metsHdr/{M}altRecordID")
                       if r.get("TYPE") in ("AIP", "SIP")}
            if objid in sources:  # "expected to be different from the SIP and AIP": a SHOULD in effect
                self.warn("DIP1", "dip-objid-reused", repr(objid), rel)
        for dmd in mets.findall(f"{M}dmdSec"):
            if dmd.get("STATUS") != "CURRENT":
                self.warn("DIP4", "dip-dmd-status", f"{dmd.get('ID')}: {dmd.get('STATUS')!r}", rel)

    def check_ids(self, mets: etree._Element, rel: str) -> None:
        """@ID values must be unique within the METS document (CSIP18, CSIP33, ... "unique within the package")."""
        elements = [el for el in mets.iter() if isinstance(el.tag, str) and el.tag.startswith(M) and el.get("ID")]
        counts = Counter(el.get("ID") for el in elements)
        for element in elements:
            requirement = ID_REQUIREMENT.get(etree.QName(element).localname)
            if requirement and counts[element.get("ID")] > 1:
                self.fail(requirement, "id-duplicate", repr(element.get("ID")), rel)

    def check_metadata_sections(self, mets: etree._Element, rel: str, base: str) -> None:
        for dmd in mets.findall(f"{M}dmdSec"):
            self.check_md_section(dmd, DMD_RULES, "CSIP20", rel, base, "CSIP19")
        for amd in mets.findall(f"{M}amdSec"):
            for section in amd:
                if not isinstance(section.tag, str):
                    continue
                local = etree.QName(section).localname
                if local == "digiprovMD":
                    self.check_md_section(section, DIGIPROV_RULES, "CSIP34", rel, base)
                elif local == "rightsMD":
                    self.check_md_section(section, RIGHTS_RULES, "CSIP47", rel, base)
                elif local in ("techMD", "sourceMD"):
                    self.check_md_section(section, OTHER_MD_RULES, None, rel, base)

    def check_md_section(self, section: etree._Element, rules: _Rules, status_requirement: str | None, rel: str,
                         base: str, created_requirement: str | None = None) -> None:
        local = etree.QName(section).localname
        if not section.get("ID") and rules is not OTHER_MD_RULES:
            self.fail(rules.id, "id-missing", local, rel)
        if created_requirement and not section.get("CREATED"):
            self.fail(created_requirement, "md-created", local, rel)
        status = section.get("STATUS")
        if status_requirement and status is not None and status not in STATUS:
            self.warn(status_requirement, "md-status", repr(status), rel)
        for ref in section.findall(f"{M}mdRef"):
            found = self.check_reference(ref, ref, rules, rel, base, local)
            if found is None:
                continue
            inside = found.path[len(base) + 1:] if base else found.path
            if local == "dmdSec" and not inside.startswith("metadata/descriptive/"):
                self.warn("CSIPSTR7", "descriptive-md-location", path=found.path)
            elif local == "digiprovMD" and not inside.startswith("metadata/preservation/"):
                self.warn("CSIPSTR6", "preservation-md-location", path=found.path)

    def check_file_section(self, mets: etree._Element, rel: str, base: str, package_level: bool = True) -> None:
        sections = mets.findall(f"{M}fileSec")
        if not sections:
            self.warn("CSIP58", "filesec-missing", path=rel)
        elif len(sections) > 1:
            self.warn("CSIP58", "filesec-multiple", path=rel)
        if package_level and sections:
            uses = {g.get("USE") or "" for section in sections for g in section.iter(f"{M}fileGrp")}
            # CSIP60/CSIP113 make both groups MUST 1..n; received packages often leave out an empty one.
            if "Documentation" not in uses:
                self.must("CSIP60", "filegrp-documentation-missing", path=rel)
            if "Schemas" not in uses:
                self.must("CSIP113", "filegrp-schemas-missing", path=rel)
            if (not any(u.startswith("Representations") for u in uses)
                    and any(f.startswith("representations/") for f in self.files)):
                self.fail("CSIP114", "filegrp-representations-missing", path=rel)
        for section in sections:
            if not section.get("ID"):
                self.fail("CSIP59", "filesec-id", path=rel)
            for group in section.iter(f"{M}fileGrp"):
                use = group.get("USE") or ""
                if not use:
                    self.fail("CSIP64", "filegrp-use", group.get("ID") or "", rel)
                if not group.get("ID"):
                    self.fail("CSIP65", "filegrp-id", use, rel)
                entries = group.findall(f"{M}file")
                # An empty Documentation or Schemas group is how a package says "none" (CSIP60/CSIP113 make the
                # groups MUST 1..n; confirmed by the DILCIS Board, E-ARK-CSIP issue #752); any other must hold files.
                if not entries and group.find(f"{M}fileGrp") is None and use not in ("Documentation", "Schemas"):
                    self.fail("CSIP66", "filegrp-empty", use or group.get("ID") or "", rel)
                if use.startswith("Representations"):
                    cit = group.get(f"{C}CONTENTINFORMATIONTYPE")
                    if cit is None:
                        self.warn("CSIP62", "filegrp-cit-missing", use, rel)
                    elif _vocabulary_match(cit, CONTENT_INFORMATION_TYPE)[1] is None:
                        self.warn("CSIP62", "filegrp-cit-vocabulary", repr(cit), rel)
                # CSIP64: "Representations/<path>" is the folder structure to the group's files.
                folder = "representations/" + use.split("/", 1)[1] if use.startswith("Representations/") else None
                for entry in entries:
                    locators = entry.findall(f"{M}FLocat")
                    if not locators:
                        self.fail("CSIP76", "flocat-missing", entry.get("ID") or "", rel)
                        continue
                    if len(locators) > 1:
                        self.fail("CSIP76", "flocat-multiple", entry.get("ID") or "", rel)
                    found = self.check_reference(entry, locators[0], FILE_RULES, rel, base, use)
                    if folder is not None and found is not None and not found.path.startswith(f"{folder}/"):
                        self.fail("CSIP64", "filegrp-use-path", f"USE {use!r}: {found.path!r}", rel)

    def check_reference(self, attrs: etree._Element, locator: etree._Element, rules: _Rules, rel: str, base: str,
                        use: str) -> EarkFile | None:
        """Attributes of a file/mdRef and the file it points to: presence, size and checksum."""
        label = attrs.get("ID") or locator.get(HREF) or etree.QName(attrs).localname
        if rules is FILE_RULES and not attrs.get("ID"):
            self.fail(rules.id, "id-missing", label, rel)
        if locator.get("LOCTYPE") != "URL":
            self.fail(rules.loctype, "loctype", f"{label}: {locator.get('LOCTYPE')!r}", rel)
        xlink_type = locator.get(XLINK_TYPE)
        if xlink_type is None:
            self.warn(rules.xlinktype, "xlinktype-missing", label, rel)
        elif xlink_type != "simple":
            self.fail(rules.xlinktype, "xlinktype", f"{label}: {xlink_type!r}", rel)
        if rules.mdtype and not attrs.get("MDTYPE"):
            self.fail(rules.mdtype, "mdtype-missing", label, rel)
        mimetype = attrs.get("MIMETYPE")
        if not mimetype:
            self.fail(rules.mimetype, "mimetype-missing", label, rel)
        created = attrs.get("CREATED")
        if created is None:
            self.fail(rules.created, "created-missing", label, rel)
        elif _parse_datetime(created) is None:
            self.fail(rules.created, "created-invalid", f"{label}: {created!r}", rel)
        declared_size: int | None = None
        size_text = attrs.get("SIZE")
        if size_text is None:
            self.fail(rules.size, "size-missing", label, rel)
        elif not re.fullmatch(r"[0-9]{1,20}", size_text.strip()):  # isdigit() takes "²" and 5,000 digits
            self.fail(rules.size, "size-invalid", f"{label}: {size_text[:40]!r}", rel)
        else:
            declared_size = int(size_text)
        checksum, checksum_type = attrs.get("CHECKSUM"), attrs.get("CHECKSUMTYPE")
        if checksum is None:
            self.fail(rules.checksum, "checksum-missing", label, rel)
        if checksum_type is None:
            self.fail(rules.checksumtype, "checksumtype-missing", label, rel)
        elif checksum_type not in CHECKSUM_TYPES:
            self.fail(rules.checksumtype, "checksumtype-invalid", f"{label}: {checksum_type!r}", rel)

        href = locator.get(HREF)
        if not href:
            self.fail(rules.href, "href-missing", label, rel)
            return None
        target = self.resolve(base, href)
        if target is None:
            self.fail(rules.href, "href-unsafe", repr(href), rel)
            return None
        if target not in self.files:
            self.fail(rules.href, "href-not-found", self.missing_detail(href, target), rel)
            return None
        self.referenced.add(target)
        size = self.files[target]
        if declared_size is not None and declared_size != size:
            self.fail(rules.size, "size-mismatch", f"declared {declared_size}, found {size}", target)
        algorithm = CHECKSUM_TYPES.get(checksum_type or "")
        declared = checksum.strip().lower() if checksum is not None else None
        digests = self.hash(target, [algorithm] if algorithm else [])
        verified = False
        if digests is not None and algorithm and declared is not None:
            if len(declared) != HEX_LENGTH[algorithm] or not re.fullmatch(r"[0-9a-f]+", declared):
                self.fail(rules.checksum, "checksum-malformed", f"{checksum_type} {checksum!r}", target)
            elif digests[algorithm] != declared:
                self.fail(rules.checksum, "checksum-mismatch",
                          f"{checksum_type} declared {declared}, found {digests[algorithm]}", target)
            else:
                verified = True
        elif checksum_type in CHECKSUM_TYPES and algorithm is None:
            self.warn(rules.checksumtype, "checksumtype-unverifiable", checksum_type or "", target)
        found = EarkFile(target, size, declared_size, checksum_type, declared, verified, dict(digests or {}),
                         mimetype, use, rel)
        self.declared.setdefault(target, found)
        return found

    def check_struct_map(self, mets: etree._Element, rel: str, base: str, package_level: bool = True) -> None:
        maps = mets.findall(f"{M}structMap")
        if not maps:
            self.fail("CSIP80", "structmap-missing", path=rel)
            return
        csip = [m for m in maps if m.get("LABEL") == "CSIP"]
        if not csip:
            self.fail("CSIP82", "structmap-csip-missing", ", ".join(repr(m.get("LABEL")) for m in maps), rel)
            return
        if len(csip) > 1:
            self.fail("CSIP82", "structmap-csip-multiple", path=rel)
        struct_map = csip[0]
        if struct_map.get("TYPE") != "PHYSICAL":
            self.fail("CSIP81", "structmap-type", repr(struct_map.get("TYPE")), rel)
        if not struct_map.get("ID"):
            self.fail("CSIP83", "id-missing", "structMap", rel)
        divisions = struct_map.findall(f"{M}div")
        if len(divisions) != 1:
            self.fail("CSIP84", "structmap-div", f"found {len(divisions)}", rel)
        if not divisions:
            return
        main = divisions[0]
        if not main.get("ID"):
            self.fail("CSIP85", "id-missing", "main div", rel)
        groups = {g.get("ID"): g.get("USE") or "" for g in mets.iter(f"{M}fileGrp") if g.get("ID")}
        file_ids = {f.get("ID") for f in mets.iter(f"{M}file") if f.get("ID")}
        pointed: set[str] = set()
        children = main.findall(f"{M}div")
        labels = {d.get("LABEL") or "" for d in children}
        if "Metadata" not in labels:
            misspelt = sorted(label for label in labels if label.strip().casefold() == "metadata")
            if misspelt:
                self.fail("CSIP90", "metadata-div-label", repr(misspelt[0]), rel)
            has_metadata = mets.find(f"{M}dmdSec") is not None or mets.find(f"{M}amdSec") is not None
            # CSIP88 is MUST 1..1; a received package with neither dmdSec nor amdSec is let through with a warning.
            (self.fail if has_metadata else self.must)("CSIP88", "metadata-div-missing", "", rel)
        if package_level:
            if "Documentation" not in labels:
                self.must("CSIP95", "documentation-div-missing", path=rel)
            if "Schemas" not in labels:
                self.must("CSIP99", "schemas-div-missing", path=rel)
        for division in children:
            label = division.get("LABEL") or ""
            key = "Representations" if label.startswith("Representations/") else label
            id_requirement, pointer_requirement, _ = DIVISIONS.get(key, (None, None, None))
            if label.startswith("Representations/"):
                id_requirement = "CSIP106"
                self.check_representation_division(division, label, groups, rel, base, package_level)
            if id_requirement and not division.get("ID"):
                self.fail(id_requirement, "id-missing", f"div {label!r}", rel)
            for fptr in division.findall(f"{M}fptr"):
                file_id = fptr.get("FILEID") or ""
                pointed.add(file_id)
                if pointer_requirement and file_id not in groups and file_id not in file_ids:
                    self.fail(pointer_requirement, "fptr-unresolved", f"div {label!r}: {file_id!r}", rel)
            for mptr in division.findall(f"{M}mptr"):
                self.check_mets_pointer(mptr, rel, base)
        for group_id, use in groups.items():
            key = "Representations" if use.startswith("Representations") else use
            requirement = DIVISIONS.get(key, (None, None, None))[2]
            if requirement and group_id not in pointed:
                self.warn(requirement, "filegrp-not-in-structmap", f"{use!r} ({group_id})", rel)

    def check_representation_division(self, division: etree._Element, label: str, groups: dict[str | None, str],
                                      rel: str, base: str, package_level: bool) -> None:
        """CSIP107-CSIP109 for a ``Representations/<folder>`` division.

        CSIP107: the label is the path to the representation, so ``representations/<folder>`` must exist, and
        a file group the division points at must carry the same name (CSIP107 "gives the same value" as
        CSIP64). CSIP108: mptr/@xlink:title names the representation's fileGrp. CSIP109 asks for one mptr;
        like commons-ip (E-ARK's Java validator), Kho accepts fptrs instead for a representation without
        its own METS, and fails a division that has neither.
        """
        folder = posixpath.normpath(posixpath.join(base, "representations/" + label.split("/", 1)[1]))
        if package_level and folder not in self.dirs:
            self.fail("CSIP107", "rep-div-folder", self.missing_detail(label, folder), rel)
        for fptr in division.findall(f"{M}fptr"):
            use = groups.get(fptr.get("FILEID"))
            if use is not None and use != label and not use.startswith(f"{label}/"):
                self.fail("CSIP107", "rep-div-group", f"div {label!r}, fileGrp USE {use!r}", rel)
        pointers = division.findall(f"{M}mptr")
        if not pointers and division.find(f"{M}fptr") is None:
            self.fail("CSIP109", "rep-div-empty", repr(label), rel)
        for mptr in pointers:
            title = mptr.get(f"{{{XLINK_NS}}}title")
            if title not in groups:
                self.must("CSIP108", "mptr-title", f"div {label!r}: {title!r}", rel)

    def check_mets_pointer(self, mptr: etree._Element, rel: str, base: str) -> None:
        if mptr.get("LOCTYPE") != "URL":
            self.fail("CSIP112", "loctype", repr(mptr.get("LOCTYPE")), rel)
        xlink_type = mptr.get(XLINK_TYPE)
        if xlink_type is not None and xlink_type != "simple":
            self.fail("CSIP111", "xlinktype", repr(xlink_type), rel)
        href = mptr.get(HREF)
        if not href:
            self.fail("CSIP110", "href-missing", "mptr", rel)
            return
        target = self.resolve(base, href)
        if target is None:
            self.fail("CSIP110", "href-unsafe", repr(href), rel)
        elif target not in self.files:
            self.fail("CSIP110", "href-not-found", self.missing_detail(href, target), rel)
        else:
            self.referenced.add(target)

    def check_unreferenced(self, mets_files: set[str]) -> None:
        for rel in sorted(set(self.files) - self.referenced - mets_files):
            self.must("CSIP58", "file-unreferenced", path=rel)

    def run(self) -> None:
        self.inventory()
        if METS_NAME not in self.files:
            hint = self.near_miss(METS_NAME)
            self.fail("CSIPSTR4", "mets-missing", hint)
            return
        self.check_structure()
        mets = self.load_mets(METS_NAME, "CSIPSTR4")
        if mets is None:
            return
        self.check_mets(mets, METS_NAME, "", self.name, package_level=True)
        mets_files = {METS_NAME}
        for representation in self.report.representations:
            if representation.mets is None:
                continue
            mets_files.add(representation.mets)
            rep_mets = self.load_mets(representation.mets, "CSIPSTR12")
            if rep_mets is None:
                continue
            representation.objid = rep_mets.get("OBJID")
            self.check_mets(rep_mets, representation.mets, posixpath.dirname(representation.mets),
                            representation.name, package_level=False)
        self.check_unreferenced(mets_files)
        self.report.files = sorted(self.declared.values(), key=lambda f: f.path)


# ------------------------------------------------------------------------------------------- ZIP


def _zip_root(names: Iterable[str]) -> str | None:
    """Where METS.xml is: "" (ZIP root) or the single top folder; None when neither (CSIPSTR1)."""
    listed = {name for name in names if name.split("/", 1)[0] not in ZIP_CLUTTER}
    if METS_NAME in listed:
        return ""
    tops = {name.split("/", 1)[0] for name in listed}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/{METS_NAME}" in listed:
            return top
    return None


# Everything reading a broken or hostile ZIP can raise (found by fuzzing: corrupt DEFLATE or LZMA data, a
# name not in UTF-8 despite the UTF-8 flag, an empty name, a truncated entry); each means "unreadable".
ZIP_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, zlib.error,
    lzma.LZMAError, ValueError, IndexError, struct.error,
)


class ZipSpaceError(OSError):
    """Not enough free space to unpack a ZIP: a fault of this machine that passes (free space, rerun),
    not a property of the package, so it is never a reason to reject the package."""


def _unpack_zip(archive: Path, target: Path, report: EarkReport, max_bytes: int, max_entries: int,
                max_ratio: float = MAX_ZIP_RATIO) -> list[str] | None:
    """Check every entry first and write nothing if one is unsafe, the archive would unpack to more than
    ``max_bytes`` or ``max_ratio`` times its compressed size, or the disk lacks room for it; then unpack
    into ``target``.

    Returns the file names unpacked, None when the ZIP was refused or unreadable; raises ``ZipSpaceError``
    when the disk is (or becomes) too full.
    """

    def fail(code: str, detail: str = "", path: str | None = None) -> None:
        report.failures.append(EarkProblem("KHO-ZIP", code, detail, path))

    try:
        with zipfile.ZipFile(archive) as handle:
            infos = handle.infolist()
            if len(infos) > max_entries:
                fail("zip-too-many", f"{len(infos)} > {max_entries}")
            declared = sum(info.file_size for info in infos)
            if declared > max_bytes:
                fail("zip-too-large", f"{declared} > {max_bytes} bytes")
            compressed = sum(info.compress_size for info in infos)
            if declared > ZIP_RATIO_FLOOR and declared > max_ratio * max(compressed, 1):
                fail(
                    "zip-ratio",
                    f"{declared} bytes from {compressed} compressed: {declared / max(compressed, 1):.0f}:1 > "
                    f"{max_ratio:.0f}:1 (KHO_ZIP_MAX_RATIO)",
                )
            seen: set[str] = set()
            for info in infos:
                if not info.filename:  # ZipInfo.is_dir() itself fails on an empty name
                    fail("zip-unsafe-path", path=repr(info.filename))
                    continue
                name = info.filename[:-1] if info.is_dir() else info.filename
                if not path_is_safe(name):
                    fail("zip-unsafe-path", path=repr(info.filename))
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    fail("zip-link", path=name)
                if info.flag_bits & 0x1:
                    fail("zip-encrypted", path=name)
                if not info.flag_bits & 0x800 and not name.isascii():
                    report.warnings.append(EarkProblem("KHO-ZIP", "zip-name-encoding", path=name))
                if name in seen:
                    fail("zip-duplicate", path=name)
                seen.add(name)
            if report.failures:
                return None
            free = shutil.disk_usage(target).free
            if declared + ZIP_FREE_SPACE_MARGIN > free:
                raise ZipSpaceError(
                    errno.ENOSPC,
                    f"not enough free space to unpack {archive.name}: {declared} bytes + "
                    f"{ZIP_FREE_SPACE_MARGIN} margin needed, {free} free in {target} / không đủ dung lượng trống",
                )
            written = 0
            for info in infos:
                name = info.filename[:-1] if info.is_dir() else info.filename
                destination = target.joinpath(*name.split("/"))
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(info) as source, open(destination, "xb") as sink:
                    while chunk := source.read(CHUNK_SIZE):
                        written += len(chunk)
                        if written > max_bytes:  # do not trust the sizes the central directory declares
                            fail("zip-too-large", f"more than {max_bytes} bytes")
                            return None
                        sink.write(chunk)
    except ZipSpaceError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ZipSpaceError(exc.errno, f"disk full while unpacking {archive.name}: {exc}") from exc
        fail("zip-unreadable", str(exc))
        return None
    except ZIP_READ_ERRORS as exc:
        fail("zip-unreadable", str(exc))
        return None
    return [info.filename for info in infos if not info.is_dir()]


@contextmanager
def _unpacked(archive: Path, report: EarkReport, max_bytes: int, max_entries: int,
              workdir: Path | None, max_ratio: float = MAX_ZIP_RATIO) -> Iterator[tuple[Path, str] | None]:
    """Yield (package root, package name) of an unpacked ZIP, or None; the temporary copy is always removed."""
    scratch = Path(tempfile.mkdtemp(prefix="kho-eark-", dir=workdir))
    try:
        names = _unpack_zip(archive, scratch, report, max_bytes, max_entries, max_ratio)
        if names is None:
            yield None
            return
        top = _zip_root(names)
        if top is None:
            report.failures.append(EarkProblem("CSIPSTR1", "zip-root"))
            yield None
            return
        yield (scratch / top if top else scratch), (top or archive.stem)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------------------- public


def validate_eark(
    path: Path | str,
    *,
    keep_digests: Iterable[str] = ("sha256",),
    max_zip_bytes: int = MAX_ZIP_BYTES,
    max_zip_entries: int = MAX_ZIP_ENTRIES,
    max_zip_ratio: float = MAX_ZIP_RATIO,
    workdir: Path | None = None,
    now: datetime | None = None,
    package_name: str | None = None,
    strict: bool = False,
) -> EarkReport:
    """Check an E-ARK CSIP/SIP/DIP 2.x package (folder or .zip) and hash every file it references once.

    ``keep_digests`` are computed in the same read as the declared checksums, so ingest can reuse
    them; ``workdir`` is where a ZIP is unpacked temporarily; ``now`` is for testing dates. ``strict``
    is for packages Kho wrote: the MUST breaches a received package is forgiven (``STRICT_ONLY``:
    an absent empty Documentation group, say) are failures, and so is a file the METS does not list.
    """
    source = Path(path)
    report = EarkReport(path=str(source))
    moment = now or datetime.now(UTC)
    keep = list(dict.fromkeys(keep_digests))
    if source.is_dir():
        report.package_name = package_name or source.resolve().name  # a workspace copy keeps the SIP's name
        _Package(source, report.package_name, report, keep, moment, strict).run()
    elif source.is_file() and (source.suffix.lower() == ".zip" or zipfile.is_zipfile(source)):
        with _unpacked(source, report, max_zip_bytes, max_zip_entries, workdir, max_zip_ratio) as unpacked:
            if unpacked is not None:
                root, name = unpacked
                report.package_name = name
                _Package(root, name, report, keep, moment, strict).run()
    elif not source.exists():
        report.failures.append(EarkProblem("KHO-INPUT", "input-missing", path=str(source)))
    else:
        report.failures.append(EarkProblem("KHO-INPUT", "input-type", path=str(source)))
    return report


def _looks_like_csip(handle: IO[bytes]) -> bool:
    """Only the root start tag is read: a METS root with the CSIP namespace or an E-ARK profile."""
    for _, element in safexml.iterparse(handle, events=("start",)):
        if element.tag != f"{M}mets":
            return False
        if CSIP_NS in element.nsmap.values() or any(key.startswith(C) for key in element.attrib):
            return True
        return bool(PROFILE_URL.match((element.get("PROFILE") or "").strip()))
    return False


def is_eark_package(path: Path | str) -> bool:
    """True when ``path`` (folder or .zip) has a root METS.xml declaring CSIP; cheap, for ingest dispatch."""
    source = Path(path)
    try:
        if source.is_dir():
            mets = source / METS_NAME
            if mets.is_symlink() or not mets.is_file():
                return False
            try:
                with open(mets, "rb") as handle:
                    return _looks_like_csip(handle)
            except etree.XMLSyntaxError:
                # A root METS.xml that does not parse (say, an entity attack) and no bagit.txt: the sender
                # meant an E-ARK package, and its validation must say what is wrong with the METS, not
                # that it is "not a BagIt bag".
                return not (source / "bagit.txt").exists()
        if source.is_file() and zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                top = _zip_root(names)
                if top is None:
                    return False
                with archive.open(f"{top}/{METS_NAME}" if top else METS_NAME) as handle:
                    return _looks_like_csip(handle)
    except (OSError, etree.XMLSyntaxError, *ZIP_READ_ERRORS):
        return False
    return False


def unpack_package(archive: Path | str, target: Path, *, max_bytes: int = MAX_ZIP_BYTES,
                   max_entries: int = MAX_ZIP_ENTRIES, max_ratio: float = MAX_ZIP_RATIO) -> EarkReport:
    """Unpack a zipped E-ARK package so that ``target`` is its root folder (for ingest, which keeps it).

    Every entry is checked before anything is written; failures are in the returned report."""
    report = EarkReport(path=str(archive))
    scratch = target.with_name(f".{target.name}.unpacking")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        names = _unpack_zip(Path(archive), scratch, report, max_bytes, max_entries, max_ratio)
        if names is None:
            return report
        top = _zip_root(names)
        if top is None:
            report.failures.append(EarkProblem("CSIPSTR1", "zip-root"))
            return report
        os.rename(scratch / top if top else scratch, target)
        report.package_name = top or Path(archive).stem
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

"""Helpers several test modules share, in one place so that no test module imports another.

* the standard XML schemas every METS and PREMIS Kho writes is held to (the repo's ``schemas/standards``,
  offline: no test fetches a schema from the network);
* editing a BagIt SIP and keeping its manifests right (``rewrite_manifest``, ``with_bag_info``);
* an E-ARK SIP 2.x package built from scratch, valid without a warning, that a test then breaks
  (``build_package``, ``zip_folder``);
* what a corpus row's note says about the file's validity (``expected_status``);
* whether a tool Kho ran was really stopped (``assert_process_gone``).

Fixtures stay in ``tests/conftest.py``; where stored AIP files are on disk is ``tests/stored.py``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import signal
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from format_registry.validators import INVALID, VALID, WELL_FORMED

ROOT = Path(__file__).resolve().parents[1]
STANDARD_SCHEMAS = ROOT / "schemas" / "standards"  # METS 1.12.1, PREMIS 3.0/2.2, XLink: SOURCE.txt there
Ingest = Callable[..., str]  # tests/unit's ``ingest`` fixture: ingest(sip_name, **bag_info) -> AIP id


# -- standard schemas ---------------------------------------------------------------------------------


@functools.cache
def mets_schema() -> etree.XMLSchema:
    """METS 1.12.1 with PREMIS 3.0, PREMIS 2.2 and XLink in one schema set (``mets-premis.xsd``), so that
    PREMIS embedded in ``mets:xmlData`` (``xsi:type="premis:file"``) is validated too. Every import is a
    relative path inside the repo: lxml's parser does not touch the network."""
    return etree.XMLSchema(etree.parse(str(STANDARD_SCHEMAS / "mets-premis.xsd")))


@functools.cache
def premis_schema() -> etree.XMLSchema:
    """PREMIS 3.0 on its own (it imports nothing), for ``premis.xml`` files and event exports."""
    return etree.XMLSchema(etree.parse(str(STANDARD_SCHEMAS / "premis-3.0" / "premis.xsd")))


# -- BagIt SIPs -----------------------------------------------------------------------------------------


def rewrite_manifest(bag: Path) -> None:
    """Recompute manifest-sha256.txt and tagmanifest-sha256.txt for the current payload."""
    lines = []
    for path in sorted(p for p in (bag / "data").rglob("*") if p.is_file() or p.is_symlink()):
        if path.is_symlink():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(bag).as_posix()}\n")
    (bag / "manifest-sha256.txt").write_text("".join(lines), encoding="utf-8")
    info = bag / "bag-info.txt"
    text = "\n".join(line for line in info.read_text(encoding="utf-8").splitlines()
                     if not line.startswith("Payload-Oxum")) + "\n"
    info.write_text(text, encoding="utf-8")
    tags = []
    for name in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt"):
        tags.append(f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}\n")
    (bag / "tagmanifest-sha256.txt").write_text("".join(tags), encoding="utf-8")


def with_bag_info(bag: Path, **changes: str) -> None:
    """Set (or add) ``bag-info.txt`` labels, and rewrite the tag manifest that covers them."""
    info = bag / "bag-info.txt"
    lines = []
    for line in info.read_text(encoding="utf-8").splitlines():
        key = line.split(":", 1)[0]
        lines.append(f"{key}: {changes.pop(key)}" if key in changes else line)
    lines += [f"{k}: {v}" for k, v in changes.items()]
    info.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (bag / "tagmanifest-sha256.txt").write_text("".join(
        f"{hashlib.sha256((bag / n).read_bytes()).hexdigest()}  {n}\n"
        for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")), encoding="utf-8")


# -- a generated E-ARK SIP --------------------------------------------------------------------------------

NAME = "hoso-2025-001"
NOW = datetime(2025, 7, 1, tzinfo=UTC)  # "now" for validate_eark: the corpus's "future" date is 2038-01-18
DATE = "2025-06-01T09:00:00+07:00"
XMLNS = ('xmlns="http://www.loc.gov/METS/" xmlns:csip="https://DILCIS.eu/XML/METS/CSIPExtensionMETS" '
         'xmlns:xlink="http://www.w3.org/1999/xlink"')
SOFTWARE_AGENT = ('<agent ROLE="CREATOR" TYPE="OTHER" OTHERTYPE="SOFTWARE"><name>Kho test builder</name>'
                  '<note csip:NOTETYPE="SOFTWARE VERSION">1.0</note></agent>')
SUBMITTER = ('<agent ROLE="CREATOR" TYPE="ORGANIZATION"><name>UBND tỉnh Thử Nghiệm</name>'
             '<note csip:NOTETYPE="IDENTIFICATIONCODE">000.00.00.H00</note></agent>')
HEADER = (f'<metsHdr CREATEDATE="{DATE}" LASTMODDATE="2025-06-02T10:00:00+07:00" csip:OAISPACKAGETYPE="SIP">'
          "{agents}</metsHdr>")
ROOT_METS = f"""<?xml version="1.0" encoding="UTF-8"?>
<mets {XMLNS} OBJID="{NAME}" TYPE="Textual works – Digital" csip:CONTENTINFORMATIONTYPE="MIXED"
      PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml" LABEL="Hồ sơ thử nghiệm">
  {HEADER.format(agents=SOFTWARE_AGENT + SUBMITTER)}
  <dmdSec ID="dmd-1" CREATED="{DATE}" STATUS="CURRENT">{{dc}}</dmdSec>
  <amdSec ID="amd-1"><digiprovMD ID="digiprov-1" STATUS="CURRENT">{{premis}}</digiprovMD></amdSec>
  <fileSec ID="filesec-1">
    <fileGrp ID="grp-doc" USE="Documentation">{{doc}}</fileGrp>
    <fileGrp ID="grp-schemas" USE="Schemas">{{schema}}</fileGrp>
    <fileGrp ID="grp-rep1" USE="Representations/rep1" csip:CONTENTINFORMATIONTYPE="MIXED">{{repmets}}</fileGrp>
  </fileSec>
  <structMap ID="struct-1" TYPE="PHYSICAL" LABEL="CSIP">
    <div ID="div-main" LABEL="{NAME}">
      <div ID="div-metadata" LABEL="Metadata" DMDID="dmd-1" ADMID="digiprov-1"/>
      <div ID="div-doc" LABEL="Documentation"><fptr FILEID="grp-doc"/></div>
      <div ID="div-schemas" LABEL="Schemas"><fptr FILEID="grp-schemas"/></div>
      <div ID="div-rep1" LABEL="Representations/rep1">
        <mptr LOCTYPE="URL" xlink:type="simple" xlink:href="representations/rep1/METS.xml" xlink:title="grp-rep1"/>
        <fptr FILEID="grp-rep1"/>
      </div>
    </div>
  </structMap>
</mets>
"""
REP_METS = f"""<?xml version="1.0" encoding="UTF-8"?>
<mets {XMLNS} OBJID="rep1" TYPE="Textual works – Digital" csip:CONTENTINFORMATIONTYPE="MIXED"
      PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml">
  {HEADER.format(agents=SOFTWARE_AGENT)}
  <fileSec ID="rep1-filesec">
    <fileGrp ID="rep1-grp-data" USE="Representations/rep1/data" csip:CONTENTINFORMATIONTYPE="MIXED">{{data}}</fileGrp>
  </fileSec>
  <structMap ID="rep1-struct" TYPE="PHYSICAL" LABEL="CSIP">
    <div ID="rep1-div" LABEL="rep1">
      <div ID="rep1-div-metadata" LABEL="Metadata"/>
      <div ID="rep1-div-data" LABEL="Data"><fptr FILEID="rep1-grp-data"/></div>
    </div>
  </structMap>
</mets>
"""
PAYLOAD = {
    "metadata/descriptive/dc.xml": '<dc xmlns="http://purl.org/dc/elements/1.1/"><title>Thử</title></dc>'.encode(),
    "metadata/preservation/premis.xml": b'<premis xmlns="http://www.loc.gov/premis/v3" version="3.0"/>',
    "documentation/Hướng dẫn.txt": "Hướng dẫn sử dụng hồ sơ.\n".encode(),
    "schemas/mets.xsd": b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>",
    "representations/rep1/data/Công văn số 01.pdf": b"%PDF-1.4\n% test payload\n",
    "representations/rep1/data/ảnh.jpg": b"\xff\xd8\xff\xe0 test jpeg",
}
PACKAGE_METS, REPRESENTATION_METS = "METS.xml", "representations/rep1/METS.xml"  # the keys of ``Edits``
Edits = dict[str, list[tuple[str, str]]]


def mets_reference(element: str, target: Path, href: str, ident: str, extra: str = "") -> str:
    """A METS ``mdRef`` or ``file`` element for ``target`` with its size, SHA-256 and ``href``."""
    data = target.read_bytes()
    attrs = (f'MIMETYPE="application/octet-stream" SIZE="{len(data)}" CREATED="{DATE}" '
             f'CHECKSUM="{hashlib.sha256(data).hexdigest().upper()}" CHECKSUMTYPE="SHA-256"')
    locator = f'LOCTYPE="URL" xlink:type="simple" xlink:href="{href}"'
    if element == "mdRef":
        return f'<mdRef ID="{ident}" {locator} {extra} {attrs}/>'
    return f'<file ID="{ident}" {attrs}><FLocat {locator}/></file>'


def edit_text(text: str, changes: list[tuple[str, str]]) -> str:
    """``text`` with each ``(old, new)`` replaced; each ``old`` must occur exactly once."""
    for old, new in changes:
        assert text.count(old) == 1, f"edit must match exactly once: {old!r}"
        text = text.replace(old, new)
    return text


def build_package(tmp_path: Path, edits: Edits | None = None, name: str = NAME) -> Path:
    """A complete E-ARK SIP 2.x package, valid without a single warning; ``edits`` change a METS text
    (METS.xml or representations/rep1/METS.xml) before the checksums that cover it are computed."""
    edits = edits or {}
    root = tmp_path / name
    for relpath, data in PAYLOAD.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)
    rep = root / "representations" / "rep1"
    data_files = "".join(
        mets_reference("file", rep / "data" / n, quote(f"data/{n}"), f"file-{i}")
        for i, n in enumerate(("Công văn số 01.pdf", "ảnh.jpg"))
    )
    (rep / "METS.xml").write_text(edit_text(REP_METS.format(data=data_files), edits.get(REPRESENTATION_METS, [])),
                                  encoding="utf-8")
    text = ROOT_METS.format(
        dc=mets_reference("mdRef", root / "metadata/descriptive/dc.xml", "metadata/descriptive/dc.xml", "dc",
                          'MDTYPE="DC"'),
        premis=mets_reference("mdRef", root / "metadata/preservation/premis.xml", "metadata/preservation/premis.xml",
                              "premis", 'MDTYPE="PREMIS"'),
        doc=mets_reference("file", root / "documentation/Hướng dẫn.txt", "documentation/Hướng dẫn.txt", "file-doc"),
        schema=mets_reference("file", root / "schemas/mets.xsd", "schemas/mets.xsd", "file-xsd"),
        repmets=mets_reference("file", rep / "METS.xml", REPRESENTATION_METS, "file-rep1-mets"),
    )
    (root / "METS.xml").write_text(edit_text(text, edits.get(PACKAGE_METS, [])), encoding="utf-8")
    return root


def zip_folder(folder: Path, archive: Path, prefix: str) -> Path:
    """Every file and folder under ``folder`` into ``archive``, each name behind ``prefix``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(folder.rglob("*")):
            handle.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


# -- the format corpus's notes ------------------------------------------------------------------------------


def expected_status(note: str) -> str | None:
    """What a row's note says about validity: valid, well-formed, invalid, not-valid (either), or None.

    The ipres2017 hand-built PDFs are judged by their README ("designed to violate well-formedness"):
    the JHOVE result quoted in their notes is for JHOVE's own, different copies of those cases.
    """
    text = note.split(" [src ")[0]
    if "on its own copy of this case" in text:
        return "not-valid"
    if re.search(r"well-formed=FALSE|status='Not well-formed'", text, re.I):
        return INVALID
    if re.search(r"well-formed=TRUE valid=(FALSE|UNDETERMINED)|Well-Formed, but not valid", text, re.I):
        return WELL_FORMED
    if re.search(r"well-formed=TRUE valid=TRUE|Valid JP2: Yes|expected valid", text, re.I):
        return VALID
    if re.search(
        r"Valid JP2: No|expected (EPUB|JHOVE \w+) errors?|expected to (produce|raise) JHOVE|\bbroken\b|truncated"
        r"|corrupt|not[-_ ]well[-_ ]formed|invalid files|name says invalid|invalid \(non-ASCII\)|PDF/A-invalid",
        text,
        re.I,
    ):
        return "not-valid"
    return None


# -- processes ----------------------------------------------------------------------------------------------


def process_gone(pid: int) -> bool:
    """The process is no more: it does not exist, or it is a zombie (dead, waiting for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # state follows the command name in parentheses


def assert_process_gone(pid: int, what: str) -> None:
    """``pid`` was killed: it is gone, or goes within moments (a SIGKILL is delivered asynchronously, and an
    orphan is reaped by init). The wait is a grace for delivery, not a performance bound."""
    for _ in range(100):
        if process_gone(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # do not leave it behind for an hour
    raise AssertionError(f"{what} (pid {pid}) survived: it was not stopped")


PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # the machine's PostgreSQL (trust auth)


@contextlib.contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A fresh schema on the test PostgreSQL for one test, dropped afterwards; yields the catalog URL whose
    ``search_path`` is that schema (so parallel tests and runs never meet). An unreachable server fails the
    test (it runs on every machine of this kind), it never skips it."""
    import pytest
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_SERVER} is not reachable: {exc}")
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

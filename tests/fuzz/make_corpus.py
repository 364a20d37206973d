"""Write the seed corpus (``tests/fuzz/corpus/<target>/``) and the libFuzzer dictionaries
(``tests/fuzz/dicts/<target>.dict``): ``python -m tests.fuzz.make_corpus``.

Seeds are small, valid or nearly valid inputs in each target's layout (see ``tests.fuzz.targets``), so that
mutations start deep inside the parsers. Some are built from the fixtures in ``fixtures/sips``. The output
is deterministic; re-running it rewrites the same files.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from tests.fuzz.targets import EARK_FILES, SEP

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURES = ROOT / "fixtures" / "sips"
CORPUS = HERE / "corpus"
DICTS = HERE / "dicts"

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle(*parts: bytes) -> bytes:
    return SEP.join(parts)


def named(files: dict[str, bytes]) -> bytes:
    return SEP.join(name.encode() + b"\n" + content for name, content in files.items())


# ----------------------------------------------------------------------------------------- bagit_tags

def bagit_tags_seeds() -> dict[str, bytes]:
    digest = sha256(b"hello\n")
    md5 = hashlib.md5(b"hello\n").hexdigest()
    return {
        "v1-utf8": bundle(
            BAGIT_TXT,
            "Source-Organization: Ủy ban nhân dân tỉnh Hà Tĩnh\nContact-Name: Nguyễn Văn An\n"
            "External-Description: a long\n  folded value\n\tand more\nPayload-Oxum: 6.1\n"
            "Bagging-Date: 2024-12-30\nKeyword: a\nKeyword: b\n".encode(),
            f"sha256\n{digest}  data/a.txt\n{digest} *./data/b%0A%25.txt\n".encode(),
            b"https://example.org/a.txt 6 data/a.txt\nhttps://example.org/b - data/b%0D.txt\n",
        ),
        "v097-utf16": bundle(
            b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-16\n",
            "Source-Organization: Sở Nội vụ\r\nPayload-Oxum: 6.1\r\n".encode("utf-16"),
            b"sha512\n" + f"{hashlib.sha512(b'x').hexdigest()}  data/x\n".encode("utf-16"),
            "http://h/x 1 data/x\n".encode("utf-16"),
        ),
        "v095-latin1-crlf": bundle(
            b"BagIt-Version: 0.95\r\nTag-File-Character-Encoding: ISO-8859-1\r\n",
            "Contact-Name: Zoë\r\nContact-Email: z@example.org\r\n".encode("latin-1"),
            f"md5\r\n{md5}  data/caf\xe9.txt\r\n{md5.upper()}\tdata/b.txt\r\n".encode("latin-1"),
            b"",
        ),
        "bom-and-bad-lines": bundle(
            b"\xef\xbb\xbfBagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
            b"\xef\xbb\xbfno colon here\n: empty label\nLabel:\n",
            b"sha1\nnot-hex  data/a\nabc\n" + b"0" * 40 + b"  \n" + b"0" * 40 + b"  ../etc/passwd\n",
            b"url-only\nhttp://h/x NaN data/x\n",
        ),
        "v1-utf8-sig-cr": bundle(
            b"BagIt-Version: 1.0\rTag-File-Character-Encoding: utf-8-sig\r",
            b"A: 1\rB: 2\r  C\r",
            f"blake2b-512\r{hashlib.blake2b(b'').hexdigest()} data/e\r".encode(),
            b"",
        ),
    }


# ----------------------------------------------------------------------------------------- sip

def small_bag(extra_payload: dict[str, bytes] | None = None, tag_files: dict[str, bytes] | None = None,
              info: bytes | None = None) -> dict[str, bytes]:
    payload = {"data/a.txt": b"hello\n", "data/\u1ea3nh/b.txt": "Bản đồ\n".encode(), **(extra_payload or {})}
    size = sum(len(content) for content in payload.values())
    bag_info = info if info is not None else (
        f"Source-Organization: Ủy ban nhân dân tỉnh Hà Tĩnh\nPayload-Oxum: {size}.{len(payload)}\n"
        "Bagging-Date: 2024-12-30\n".encode()
    )
    manifest = "".join(f"{sha256(content)}  {name}\n" for name, content in payload.items()).encode()
    tags = {"bagit.txt": BAGIT_TXT, "bag-info.txt": bag_info, "manifest-sha256.txt": manifest, **(tag_files or {})}
    tagmanifest = "".join(f"{sha256(content)}  {name}\n" for name, content in tags.items()).encode()
    return {**tags, "tagmanifest-sha256.txt": tagmanifest, **payload}


def tt05_fixture() -> dict[str, bytes]:
    """The XML records of fixtures/sips/tt05-hoso-xml, pointing at this corpus's payload files."""
    folder = FIXTURES / "tt05-hoso-xml" / "metadata"
    files = {"metadata/EAD.xml": (folder / "EAD.xml").read_bytes()}
    targets = ["data/a.txt", "data/\u1ea3nh/b.txt", "data/c.txt"]
    for number, target in enumerate(targets, start=1):
        record = (folder / "EAD_doc" / f"{number}.xml").read_bytes()
        start = record.index(b' file="') + 7
        end = record.index(b'"', start)
        files[f"metadata/EAD_doc/{number}.xml"] = record[:start] + target.encode() + record[end:]
    return files


def sip_seeds() -> dict[str, bytes]:
    vn_info = ("fileCode: H40.2024.01-VP\ntitle: Hồ sơ\nmaintenance: 01\nmode: 02\nlanguage: 01,02\n"
               "startDate: 02/01/2024\nendDate: 28/12/2024\nEmbargoUntil: 01/01/2030\nPayload-Oxum: 13.2\n").encode()
    return {
        "valid": named(small_bag()),
        "vn-profile": b"#vn\n" + named(small_bag(info=vn_info)),
        "tt05-xml": named(small_bag({"data/c.txt": b"c\n"}, tt05_fixture())),
        "access-rules": named(small_bag(tag_files={
            "access-rules.csv": "path,mode,embargo_until\ndata/a.txt,03,01/01/2040\ndata/ảnh/b.txt,01,\n".encode()
        })),
        "small-limits": b"#small\n" + named(small_bag({"data/c.txt": b"c\n"}, {
            **tt05_fixture(),
            # under the 512-byte limit, but 30 rows naming no payload file: more problems than the cap of 20
            "access-rules.csv": b"path,mode\n" + b"data/x,01\n" * 30,
        })),
        "fetch-and-problems": named({
            "bagit.txt": b"BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n",
            "manifest-md5.txt": b"d41d8cd98f00b204e9800998ecf8427e  ./data/empty\n"
                                b"d41d8cd98f00b204e9800998ecf8427e  data/E\xcc\x81.txt\n",
            "fetch.txt": b"https://example.org/x 10 data/remote\n",
            "data/empty": b"",
            "data/\xc3\x89.txt": b"",
            "data/.DS_Store": b"",
        }),
    }


# ----------------------------------------------------------------------------------------- eark_mets

def mets(objid: str = "pkg", *, rep: bool = False) -> bytes:
    """A CSIP METS.xml for the files ``tests.fuzz.targets.EARK_FILES`` lays out, with right sizes and checksums."""

    def attrs(path: str) -> str:
        content = EARK_FILES[path]
        return (f'SIZE="{len(content)}" CREATED="2025-06-01T09:00:00+07:00" CHECKSUM="{sha256(content).upper()}" '
                f'CHECKSUMTYPE="SHA-256"')

    if rep:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<mets xmlns="http://www.loc.gov/METS/" xmlns:csip="https://DILCIS.eu/XML/METS/CSIPExtensionMETS" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" OBJID="rep1" TYPE="Textual works – Digital" '
            'csip:CONTENTINFORMATIONTYPE="MIXED" PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml">'
            '<metsHdr CREATEDATE="2025-06-01T09:00:00" csip:OAISPACKAGETYPE="SIP"><agent ROLE="CREATOR" '
            'TYPE="OTHER" OTHERTYPE="SOFTWARE"><name>Kho</name><note csip:NOTETYPE="SOFTWARE VERSION">1</note>'
            '</agent></metsHdr><fileSec ID="fs"><fileGrp ID="g" USE="Data"><file ID="f1" MIMETYPE="text/plain" '
            f'{attrs("representations/rep1/data/file.txt").replace("representations/rep1/", "")}>'
            '<FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="data/file.txt"/></file></fileGrp></fileSec>'
            '<structMap ID="s" TYPE="PHYSICAL" LABEL="CSIP"><div ID="d"><div ID="dd" LABEL="Data">'
            '<fptr FILEID="g"/></div></div></structMap></mets>\n'
        ).encode()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<mets xmlns="http://www.loc.gov/METS/" xmlns:csip="https://DILCIS.eu/XML/METS/CSIPExtensionMETS" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink" OBJID="{objid}" TYPE="Textual works – Digital" '
        'csip:CONTENTINFORMATIONTYPE="MIXED" PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml" LABEL="Hồ sơ">'
        '<metsHdr CREATEDATE="2025-06-01T09:00:00+07:00" LASTMODDATE="2025-06-01T09:00:00Z" '
        'csip:OAISPACKAGETYPE="SIP"><agent ROLE="CREATOR" TYPE="OTHER" OTHERTYPE="SOFTWARE"><name>Kho</name>'
        '<note csip:NOTETYPE="SOFTWARE VERSION">1.0</note></agent><agent ROLE="CREATOR" TYPE="ORGANIZATION">'
        '<name>Ủy ban nhân dân tỉnh Hà Tĩnh</name></agent></metsHdr>'
        '<dmdSec ID="dmd-1" CREATED="2025-06-01T09:00:00+07:00" STATUS="CURRENT"><mdRef ID="dc" LOCTYPE="URL" '
        'xlink:type="simple" xlink:href="metadata/descriptive/dc.xml" MDTYPE="DC" MIMETYPE="text/xml" '
        f'{attrs("metadata/descriptive/dc.xml")}/></dmdSec>'
        '<amdSec><digiprovMD ID="prov-1" STATUS="CURRENT"><mdRef LOCTYPE="URL" xlink:type="simple" '
        'xlink:href="metadata/preservation/premis.xml" MDTYPE="PREMIS" MIMETYPE="text/xml" '
        f'{attrs("metadata/preservation/premis.xml")}/></digiprovMD></amdSec>'
        '<fileSec ID="filesec-1"><fileGrp ID="grp-doc" USE="Documentation"><file ID="f-doc" MIMETYPE="text/plain" '
        f'{attrs("documentation/readme.txt")}><FLocat LOCTYPE="URL" xlink:type="simple" '
        'xlink:href="documentation/readme.txt"/></file></fileGrp>'
        '<fileGrp ID="grp-sch" USE="Schemas"><file ID="f-xsd" MIMETYPE="text/xml" '
        f'{attrs("schemas/mets.xsd")}><FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="schemas/mets%2Exsd"/>'
        '</file></fileGrp>'
        '<fileGrp ID="grp-rep1" USE="Representations/rep1" csip:CONTENTINFORMATIONTYPE="MIXED"><file ID="f-rep" '
        f'MIMETYPE="text/plain" {attrs("representations/rep1/data/file.txt")}><FLocat LOCTYPE="URL" '
        'xlink:type="simple" xlink:href="file:representations/rep1/data/file.txt"/></file></fileGrp></fileSec>'
        '<structMap ID="struct-1" TYPE="PHYSICAL" LABEL="CSIP"><div ID="div-main" LABEL="pkg">'
        '<div ID="div-md" LABEL="Metadata" DMDID="dmd-1"/><div ID="div-doc" LABEL="Documentation">'
        '<fptr FILEID="grp-doc"/></div><div ID="div-sch" LABEL="Schemas"><fptr FILEID="grp-sch"/></div>'
        '<div ID="div-rep1" LABEL="Representations/rep1"><mptr LOCTYPE="URL" xlink:type="simple" '
        'xlink:href="representations/rep1/METS.xml"/><fptr FILEID="grp-rep1"/></div></div></structMap></mets>\n'
    ).encode()


def eark_mets_seeds() -> dict[str, bytes]:
    return {
        "csip": mets(),
        "csip-with-rep": bundle(mets(), mets(rep=True)),
        "fixture": (FIXTURES / "eark-hoso-2025-001" / "METS.xml").read_bytes(),
        "not-csip": b'<?xml version="1.0"?><mets xmlns="http://www.loc.gov/METS/" OBJID=""><metsHdr/></mets>',
        "other-root": b"<simpledc/>",
        "doctype": b'<?xml version="1.0"?><!DOCTYPE mets [<!ENTITY a "aaaa">]>'
                   b'<mets xmlns="http://www.loc.gov/METS/" OBJID="&a;"/>',
    }


# ----------------------------------------------------------------------------------------- tt05_ead

def tt05_seeds() -> dict[str, bytes]:
    records = tt05_fixture()
    docs = [f"{number}.xml".encode() + b"\n" + records[f"metadata/EAD_doc/{number}.xml"] for number in (1, 2, 3)]
    docs = [doc.replace(b"data/\xe1\xba\xa3nh/b.txt", "data/Quyết định.pdf".encode()) for doc in docs]
    tt02 = FIXTURES / "tt02-hoso" / "metadata"
    tt02_docs = [f"{n}.xml".encode() + b"\n" + (tt02 / "EAD_doc" / f"{n}.xml").read_bytes() for n in (1, 2)]
    partial = records["metadata/EAD.xml"].replace(b"<startDate>02/01/2024", b"<startDate>01/2024")
    return {
        "tt05": bundle(records["metadata/EAD.xml"], *docs),
        "tt05-one-doc-untagged": b"#untagged\n" + bundle(records["metadata/EAD.xml"], docs[0]),
        "tt05-partial": b"#partial\n" + bundle(partial.replace(b"<endDate>28/12/2024", b"<endDate>2024"), docs[1]),
        "tt02": bundle((tt02 / "EAD.xml").read_bytes(), *tt02_docs),
        "docs-only": bundle(b"", docs[2], b"10.xml\n<simpledc/>", b"notes.txt\nnot xml"),
    }


# ----------------------------------------------------------------------------------------- eark_zip

def zip_bytes(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 6, 1, 9, 0, 0))
            info.compress_type = compression
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def eark_zip_seeds() -> dict[str, bytes]:
    package = [("METS.xml", mets()), *EARK_FILES.items(), ("representations/rep1/METS.xml", mets(rep=True))]
    in_folder = [("pkg/", b""), *((f"pkg/{name}", content) for name, content in package)]
    return {
        "root-deflated": zip_bytes(package),
        "folder-stored": zip_bytes(in_folder, zipfile.ZIP_STORED),
        "bz2": zip_bytes([("METS.xml", b"<mets/>"), ("Quyết định.txt", b"x" * 200)], zipfile.ZIP_BZIP2),
        "lzma": zip_bytes([("METS.xml", b"<mets/>"), ("a/b.txt", b"y" * 200)], zipfile.ZIP_LZMA),
        "clutter": zip_bytes([("__MACOSX/._x", b""), ("p/METS.xml", b"<mets/>"), ("p/a.txt", b"0" * 100)]),
    }


# ----------------------------------------------------------------------------------------- dictionaries

DICTIONARIES: dict[str, list[bytes]] = {
    "bagit_tags": [
        b"BagIt-Version: ", b"Tag-File-Character-Encoding: ", b"1.0", b"0.97", b"0.93", b"UTF-8", b"UTF-16",
        b"utf-16-le", b"utf-32", b"ISO-8859-1", b"cp1258", b"utf-8-sig", b"idna", b"punycode", b"undefined",
        b"unicode_escape", b"raw_unicode_escape", b"utf-7", b"rot13", b"base64", b"hex", b"\r\n", b"\r", b"\n",
        b"\x0b", b"\x0c", b"\xc2\x85", b"\xe2\x80\xa8", b"\xef\xbb\xbf", b"\xff\xfe", b"%0A", b"%0D", b"%25",
        b"./", b"*", b"../", b"md5\n", b"sha1\n", b"sha256\n", b"sha512\n", b"sha3-256\n", b"blake2s-256\n",
        b"Payload-Oxum: ", b"Bag-Size: ", b"\xc2\xb2", b"\xd9\xa1",
    ],
    "sip": [
        b"bagit.txt\n", b"bag-info.txt\n", b"package-info.txt\n", b"manifest-sha256.txt\n", b"manifest-md5.txt\n",
        b"tagmanifest-sha256.txt\n", b"fetch.txt\n", b"access-rules.csv\n", b"metadata/EAD.xml\n",
        b"metadata/hoso.json\n", b"metadata/EAD_doc/1.xml\n", b"data/", b"#vn\n", b"#small\n", b"Payload-Oxum: ",
        b"EmbargoUntil: ", b"mode: ", b"AccessBasis: ", b"BagIt-Version: 0.96", b"%0A", b"%25", b"\xcc\x81",
        b"\xc3\x89", b"\xe1\xba\xa3", b"/.DS_Store", b"/__MACOSX/", b"._", b"\xc2\xb2", b"\xd9\xa1",
        b"29/02/2023", b"31/12/9999", b"00/00/0000",
    ],
    "eark_mets": [
        b'CREATEDATE="', b'LASTMODDATE="', b'CREATED="', b'SIZE="', b'CHECKSUM="', b'CHECKSUMTYPE="',
        b"0001-01-01T00:00:00+14:00", b"9999-12-31T24:00:00-14:00", b"9999-12-31T23:59:59-01:00",
        b"-0001-01-01T00:00:00Z", b"2025-06-01T24:00:00", b".9999999", b"\xc2\xb2", b"\xd9\xa1",
        b"99999999999999999999999", b"SHA-256", b"MD5", b"SHA-1", b"SHA-512", b"CRC32", b"ADLER32",
        b'xlink:href="', b"file:", b"file://", b"%2F", b"%2E%2E/", b"../", b"C:", b"\\", b"%00",
        b"<mptr ", b"<fptr ", b"<div ", b"LABEL=\"Representations/", b"OTHER", b"csip:OTHERTYPE=\"",
        b"csip:OAISPACKAGETYPE=\"", b"AIP", b"DIP", b"<!DOCTYPE", b"<!ENTITY", b"&#x0;",
    ],
    "tt05_ead": [
        b"<fileCode>", b"<startDate>", b"<endDate>", b"<issuedDate>", b"<totalDoc>", b"<numberOfPage>",
        b"<docCode>", b"<docId>", b"<confidenceLevel>", b"<maintenance>", b"<language>", b"<mode>",
        b"<paperFileCode>", b"<riskRecovery>", b"xsi:type=\"", b'file="data/', b"#partial\n", b"#untagged\n",
        b"H40.2024.01-VP", b"000.00.00.G09.2010.01.TH", b".0000001", b"29/02/2024", b"02/2024", b"2024",
        b"<FileCode>", b"<Maintenance>", b"<Rights>", b"<StartDate>", b"<DocCode>", b"<IssuedDate>",
        b"<PageAmount>", b"<TypeName>", "Vĩnh viễn".encode(), b"\xc2\xb2", b"\xd9\xa1", b"\xef\xbc\x91",
        b"<!DOCTYPE", b"&amp;", b"<![CDATA[", b"<!-- -->",
    ],
    "eark_zip": [
        b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"\x00\x08", b"\x01\x00",
        b"\x08\x00", b"\x0c\x00", b"\x0e\x00", b"\xff\xff\xff\xff", b"\xff\xff", b"METS.xml", b"../", b"/",
        b"\\", b"C:", b"~", b"\xa1\xed\x00\x00",
    ],
}


def dict_line(token: bytes) -> str:
    return 'kw="' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}" for b in token) + '"'


def main() -> None:
    makers = {"bagit_tags": bagit_tags_seeds, "sip": sip_seeds, "eark_mets": eark_mets_seeds,
              "tt05_ead": tt05_seeds, "eark_zip": eark_zip_seeds}
    for target, make in makers.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            stale.unlink()
        for name, data in make().items():
            (folder / name).write_bytes(data)
    from tests.fuzz.reproducers import REGRESSIONS as regressions

    for target, inputs in regressions.items():
        folder = HERE / "regressions" / target
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            stale.unlink()
        for name, data in inputs.items():
            (folder / name).write_bytes(data)
    DICTS.mkdir(exist_ok=True)
    for target, tokens in DICTIONARIES.items():
        (DICTS / f"{target}.dict").write_text("\n".join(dict_line(t) for t in tokens) + "\n", "ascii")


if __name__ == "__main__":
    main()

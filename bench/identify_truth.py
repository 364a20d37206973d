"""Known answers for identification: what each file *is*, to score identification engines against.

Three sources, none of them an engine's own output:

- ``../shared/corpora/formats/EXPECTED.tsv``: real files with the PUID and/or MIME type their upstream
  source states (FITS regression expectations, format-corpus readmes, file-scraper's folder names).
- Kho's fixture SIPs (``fixtures/sips``): made by ``fixtures/generate.py``, so their formats are known by
  construction (a hand-written ``%PDF-1.4`` file, Pillow JPEG/TIFF/PNG, a python-docx-like OOXML
  package, UTF-8 text and XML, a TT 05 ``hoso.json``).
- Generated benchmark files (``bench/corpus.py``): known by the generator's format, with the version
  pinned wherever the file declares one (PDF header, GIF 87a/89a, JFIF version, ODF ``office:version``).

Where PRONOM has one format for what the file declares, the expected PUID is exactly that one; where the
file declares no version (PNG), every PUID of the format family is accepted. MIME types are accepted
in their common spellings (``audio/x-wav`` and ``audio/wav``), the same set for every engine.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Expected:
    """The right answers for one file (an empty set: this source states nothing about that field)."""

    path: str
    puids: frozenset[str]
    mimes: frozenset[str]
    source: str


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


XML_MIMES = _set("application/xml", "text/xml")
WAV_MIMES = _set("audio/x-wav", "audio/wav", "audio/vnd.wave", "audio/x-wave")
PDF_VERSIONS = {"1.0": "fmt/14", "1.1": "fmt/15", "1.2": "fmt/16", "1.3": "fmt/17", "1.4": "fmt/18",
                "1.5": "fmt/19", "1.6": "fmt/20", "1.7": "fmt/276", "2.0": "fmt/1129"}  # fmt: skip
ODF_TEXT_VERSIONS = {"1.0": "fmt/136", "1.1": "fmt/290", "1.2": "fmt/291", "1.3": "fmt/1756"}
JFIF_VERSIONS = {(1, 0): "fmt/42", (1, 1): "fmt/43", (1, 2): "fmt/44"}


def _head(path: Path, size: int = 64) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _pdf(path: Path) -> frozenset[str]:
    found = re.match(rb"%PDF-(\d\.\d)", _head(path))
    return _set(PDF_VERSIONS[found.group(1).decode()]) if found and found.group(1).decode() in PDF_VERSIONS else _set()


def _gif(path: Path) -> frozenset[str]:
    head = _head(path, 6)
    return _set("fmt/3") if head == b"GIF87a" else _set("fmt/4") if head == b"GIF89a" else _set()


def _jpeg(path: Path) -> frozenset[str]:
    head = _head(path, 20)
    if head[6:11] == b"JFIF\x00":
        puid = JFIF_VERSIONS.get((head[11], head[12]))
        return _set(puid) if puid else _set()
    return _set()


def _odt(path: Path) -> frozenset[str]:
    try:
        with zipfile.ZipFile(path) as odf:
            content = odf.open("content.xml").read(4096)
    except (OSError, KeyError, zipfile.BadZipFile):
        return _set()
    found = re.search(rb"office:version=[\"']([0-9.]+)[\"']", content)
    version = found.group(1).decode() if found else "1.1"  # no version declared: 1.1, ODF's default
    return _set(ODF_TEXT_VERSIONS[version]) if version in ODF_TEXT_VERSIONS else _set()


# extension -> (how to find the PUID(s) from the file, accepted MIME types)
BY_EXTENSION: dict[str, tuple[object, frozenset[str]]] = {
    ".pdf": (_pdf, _set("application/pdf")),
    ".docx": (_set("fmt/412"), _set(DOCX_MIME)),
    ".odt": (_odt, _set("application/vnd.oasis.opendocument.text")),
    ".xml": (_set("fmt/101"), XML_MIMES),
    ".txt": (_set("x-fmt/111"), _set("text/plain")),
    ".csv": (_set("x-fmt/18"), _set("text/csv")),
    ".html": (_set("fmt/471"), _set("text/html")),
    ".jpg": (_jpeg, _set("image/jpeg")),
    ".png": (_set("fmt/11", "fmt/12", "fmt/13"), _set("image/png")),
    ".tif": (_set("fmt/353"), _set("image/tiff")),
    ".gif": (_gif, _set("image/gif")),
    ".bmp": (_set("fmt/116"), _set("image/bmp", "image/x-ms-bmp")),
    ".wav": (_set("fmt/141"), WAV_MIMES),
    ".au": (_set("x-fmt/139"), _set("audio/basic")),
    ".mid": (_set("x-fmt/230"), _set("audio/midi", "audio/x-midi")),
    ".json": (_set("fmt/817"), _set("application/json")),
}


def by_construction(path: Path, source: str) -> Expected | None:
    """The answer for a file Kho made (fixture or generated), from its extension and declared version."""
    rule = BY_EXTENSION.get(path.suffix.lower())
    if rule is None:
        return None
    puids, mimes = rule
    found = puids(path) if callable(puids) else puids
    assert isinstance(found, frozenset)
    return Expected(str(path), found, mimes, source)


def corpus_expected(corpora: Path) -> list[Expected]:
    """Every row of ``formats/EXPECTED.tsv`` (PUIDs split on ``;``: any one of them is right)."""
    root = corpora / "formats"
    with (root / "EXPECTED.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        Expected(
            str(root / row["path"]),
            frozenset(p for p in row["expected_puid"].split(";") if p),
            _set(row["expected_mime"]) if row["expected_mime"] else _set(),
            "EXPECTED.tsv",
        )
        for row in rows
        if (root / row["path"]).is_file()
    ]


def fixture_expected(fixtures: Path = REPO / "fixtures" / "sips") -> list[Expected]:
    """Kho's fixture SIP files (payload, metadata and BagIt tag files) whose format is known by construction."""
    found = [by_construction(p, "fixtures/sips") for p in sorted(fixtures.rglob("*")) if p.is_file()]
    return [e for e in found if e is not None and e.puids]


def find_corpora() -> Path:
    """``$KHO_TEST_CORPORA``, else ``../shared/corpora`` beside the checkout (as the tests find it)."""
    import os

    for candidate in (os.environ.get("KHO_TEST_CORPORA", ""), str(REPO.parent / "shared" / "corpora"),
                      "/work/shared/corpora"):  # fmt: skip
        if candidate and (Path(candidate) / "formats" / "EXPECTED.tsv").is_file():
            return Path(candidate)
    raise FileNotFoundError("the shared corpora (formats/EXPECTED.tsv) are not there: set KHO_TEST_CORPORA")


@dataclass
class Score:
    """How many stated answers an engine got right."""

    puid_right: int = 0
    puid_total: int = 0
    mime_right: int = 0
    mime_total: int = 0

    @property
    def puid_pct(self) -> float:
        return 100 * self.puid_right / self.puid_total if self.puid_total else 100.0

    @property
    def mime_pct(self) -> float:
        return 100 * self.mime_right / self.mime_total if self.mime_total else 100.0

    def to_dict(self) -> dict[str, object]:
        return {"puid": f"{self.puid_right}/{self.puid_total}", "puid_pct": round(self.puid_pct, 2),
                "mime": f"{self.mime_right}/{self.mime_total}", "mime_pct": round(self.mime_pct, 2)}  # fmt: skip


def score(expected: list[Expected], answers: dict[str, tuple[str | None, str | None]]) -> tuple[Score, list[str]]:
    """Score ``{path: (puid, mime)}`` against the expectations; also the wrong answers, for the JSON."""
    result, wrong = Score(), []
    for item in expected:
        puid, mime = answers.get(item.path, (None, None))
        if item.puids:
            result.puid_total += 1
            result.puid_right += puid in item.puids
            if puid not in item.puids:
                wrong.append(f"{item.path}: PUID {puid} (expected {'|'.join(sorted(item.puids))})")
        if item.mimes:
            result.mime_total += 1
            result.mime_right += mime in item.mimes
            if mime not in item.mimes:
                wrong.append(f"{item.path}: MIME {mime} (expected {'|'.join(sorted(item.mimes))})")
    return result, wrong

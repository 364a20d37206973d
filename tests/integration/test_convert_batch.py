"""One LibreOffice process for a batch of documents, with each file still getting its own verdict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from format_registry.convert import run_tool_batch
from format_registry.policy import load_policy
from tests.conftest import CORPORA, FIXTURE_SIPS


def test_batch_conversion_with_a_broken_file_and_a_shared_name(tmp_path: Path) -> None:
    if shutil.which("soffice") is None:
        pytest.skip("soffice not installed (the Makefile installs LibreOffice when run as root)")
    docx = FIXTURE_SIPS / "hoso-2024-ubnd-01" / "data" / "Tờ trình.docx"
    sources = []
    for name in ("Tờ trình số 1.docx", "Tờ trình số 2.docx"):
        sources.append(tmp_path / "in" / name)
        sources[-1].parent.mkdir(exist_ok=True)
        shutil.copy(docx, sources[-1])
    shutil.copy(CORPORA / "formats" / "odf" / "simple.odt", tmp_path / "in" / "Tờ trình số 1.odt")  # same stem
    sources.append(tmp_path / "in" / "Tờ trình số 1.odt")
    broken = tmp_path / "in" / "hỏng.docx"
    broken.write_bytes(b"PK\x03\x04 this is not a document")
    sources.append(broken)
    results = run_tool_batch(load_policy().tools["libreoffice-writer-pdfa"], sources, tmp_path / "work")
    assert [r.ok for r in results] == [True, True, True, False]
    assert all(r.identification and r.identification.puid == "fmt/477" for r in results[:3])
    assert len({r.output for r in results[:3]}) == 3, "the shared stem was converted on its own"
    assert results[3].error

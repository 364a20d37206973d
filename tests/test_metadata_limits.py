"""Values kept in the catalog and in events are bounded; the whole value stays in the AIP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preservation import premis
from preservation.ingest import MAX_TITLE
from tests.conftest import run_kho
from tests.stored import stored_aip
from tests.test_eark import ROOT, build_package

pytestmark = pytest.mark.timeout(300)


def test_a_huge_eark_label_does_not_become_the_catalog_title(kho_home: Path, tmp_path: Path) -> None:
    """The finding: a 9.4 MB LABEL became the catalog title, and `kho aip list` printed 9.4 MB."""
    label = "Hồ sơ " * 700_000  # 6.3 MB of UTF-8 (lxml refuses attribute values near 10 MB itself)
    package = build_package(tmp_path, {ROOT: [('LABEL="Hồ sơ thử nghiệm"', f'LABEL="{label}"')]})
    result = json.loads(run_kho("ingest", str(package), "--json", check=True).stdout)
    listed = run_kho("aip", "list", "--json", check=True).stdout
    assert len(listed) < 10_000
    title = json.loads(listed)["title"]
    assert len(title) <= MAX_TITLE and title.startswith("Hồ sơ Hồ sơ") and "more characters" in title
    stored = stored_aip(kho_home / "storage", str(result["aip_id"]), kho_home / "head") / "metadata/other"
    kept = next(p for p in stored.rglob("METS.xml"))
    assert label.strip() in kept.read_text(encoding="utf-8"), "the whole value is kept in the AIP"


def test_event_texts_are_bounded_with_a_note() -> None:
    event = premis.new_event("validation", "failure", aip_id=None, detail="x", outcome_detail="e" * 10**6)
    assert len(event["outcome_detail"]) <= premis.MAX_EVENT_TEXT
    assert event["outcome_detail"].endswith("the full text is in the report of this step]")
    short = premis.new_event("validation", "success", aip_id=None, detail="x", outcome_detail="ok")
    assert short["outcome_detail"] == "ok"

"""The Decision 458 indicator "paper records digitised" is computed from the AIPs (issue #19 E)."""

from __future__ import annotations

from datetime import UTC, datetime

from packages import premis
from preservation.catalog import Catalog
from preservation.report import d458_report
from tests.unit.conftest import Ingest


def _digitised(report: dict) -> dict:
    return next(i for i in report["overall"] if i["indicator"] == "paper_digitised")


def test_an_imaging_event_or_confidence_level_02_counts_as_digitised(catalog: Catalog, ingest: Ingest) -> None:
    # one fixture dossier three times, each with a file of its own (else the second is a duplicate)
    scanned = ingest(files={"data/a.txt": b"a"}, confidenceLevel="01")  # declared 01, but its capture is recorded
    declared = ingest(files={"data/b.txt": b"b"}, confidenceLevel="02")
    born_digital = ingest(files={"data/c.txt": b"c"}, confidenceLevel="01")
    assert _digitised(d458_report(catalog, now=datetime.now(UTC)))["numerator"] == 1  # only the declared one
    with catalog.session() as session:
        catalog.append_events(session, [premis.new_event(
            "imaging", "success", aip_id=scanned, object_ids=[scanned], detail="document 1: 2 page(s) digitised")])
    figure = _digitised(d458_report(catalog, now=datetime.now(UTC)))
    assert (figure["numerator"], figure["denominator"]) == (2, 3), (scanned, declared, born_digital, figure)

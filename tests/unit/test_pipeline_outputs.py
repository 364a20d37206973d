"""The typed step outputs and the event recorder of the ingest pipeline (preservation/pipeline/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from format_registry.identification import FormatIdentification
from preservation.pipeline import STEPS
from preservation.pipeline.outputs import (
    OUTPUT_VERSION,
    SipFile,
    SipValidation,
    as_output,
    identification_map,
    identifications,
    save_identifications,
    save_sip_files,
    sip_files,
    sip_validation,
)
from preservation.pipeline.recording import EventRecorder
from preservation.workspace import Workspace, write_json_atomic

AIP = "0b7e0c1e-4c43-4f0f-9a51-2d3c8d1f6a10"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / AIP)
    workspace.path.mkdir()
    workspace.save_state({"aip_id": AIP, "sip_name": "hồ sơ", "done": [], "failures": []})
    return workspace


def found(puid: str | None, mime: str = "application/pdf") -> FormatIdentification:
    return FormatIdentification(puid, "Acrobat PDF 1.7", "1.7", mime, "signature", "siegfried 1.11", ("fmt/276",))


def test_recorder_defaults_to_the_aip_and_kho_and_spools_to_disk(ws: Workspace) -> None:
    events = EventRecorder(ws, "virus_check")
    event = events.success("virus check", detail="ClamAV virus scan", outcome_detail="no virus found")
    assert event["aip_id"] == AIP and event["object_ids"] == [AIP] and event["outcome"] == "success"
    assert event["agents"][0]["role"] == "executing program" and event["agents"][0]["type"]
    events.record("validation", "warning", detail="d", objects=["file-1"], agents=[])
    assert len(events) == 2 and [e["event_type"] for e in events] == ["virus check", "validation"]
    assert not ws.is_done("virus_check") and not (ws.events_dir / "virus_check.jsonl").exists()
    ws.complete_step("virus_check", events)
    assert ws.is_done("virus_check")
    lines = (ws.events_dir / "virus_check.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [e["id"] for e in ws.committed_events()]
    assert not list(ws.events_dir.glob(".*spool*")), "the spool became the step's event file"
    with pytest.raises(RuntimeError, match="already committed"):
        events.success("virus check", detail="again")


def test_recorder_refuses_an_unknown_event_type_or_outcome(ws: Workspace) -> None:
    events = EventRecorder(ws, "identify")
    with pytest.raises(ValueError, match="unknown PREMIS event type"):
        events.success("format guessing", detail="")
    with pytest.raises(ValueError, match="unknown event outcome"):
        events.record("validation", "perhaps", detail="")
    events.discard()
    assert not list(ws.events_dir.iterdir())


def test_an_interrupted_step_leaves_nothing_done_and_its_rerun_replaces_the_spool(ws: Workspace) -> None:
    first = EventRecorder(ws, "fixity")
    first.success("message digest calculation", detail="run 1")
    # the process dies here: no complete_step. The re-run records again from scratch.
    second = EventRecorder(ws, "fixity")
    second.success("message digest calculation", detail="run 2")
    ws.complete_step("fixity", second)
    assert [e["detail"] for e in ws.committed_events()] == ["run 2"]


def test_committed_events_follow_the_steps_in_the_order_they_ran(ws: Workspace) -> None:
    for step in STEPS[:3]:
        events = EventRecorder(ws, step)
        events.success("validation", detail=step)
        ws.complete_step(step, events)
    ws.record_failure({"id": "f", "event_type": "replication", "outcome": "failure"})
    assert [e.get("detail", "failure") for e in ws.committed_events()] == [*STEPS[:3], "failure"]


def test_sip_files_and_identifications_stream_in_the_sip_order(ws: Workspace) -> None:
    files = [SipFile(f"id-{n}", f"data/tệp {n}.pdf", n, {"sha256": f"{n:064x}"}) for n in range(1000)]
    save_sip_files(ws, iter(files))
    assert list(sip_files(ws)) == files
    save_identifications(ws, ((f.path, found("fmt/276" if n % 2 else None)) for n, f in enumerate(files)))
    streamed = list(identifications(ws))
    assert [path for path, _ in streamed] == [f.path for f in files]
    assert streamed[1][1] == found("fmt/276") and streamed[0][1].puid is None
    assert identification_map(ws)["data/tệp 3.pdf"].candidates == ("fmt/276",)
    text = (ws.work_dir / "validate_sip.files.jsonl").read_text(encoding="utf-8")
    assert "tệp" in text and len(text.splitlines()) == 1000, "UTF-8 JSON lines, one a file"


def test_the_summary_round_trips_with_its_version(ws: Workspace) -> None:
    summary = SipValidation(bag_info={"title": "Hồ sơ"}, payload_hash="ab", algorithms=["sha256"], file_count=2)
    events = EventRecorder(ws, "validate_sip")
    ws.complete_step("validate_sip", events, as_output(summary))
    assert ws.output("validate_sip")["version"] == OUTPUT_VERSION
    assert sip_validation(ws) == summary


def test_a_version_1_workspace_left_by_an_earlier_kho_is_still_read(ws: Workspace) -> None:
    """An ingest interrupted before an upgrade resumes after it: the old outputs are read as typed ones."""
    ws.work_dir.mkdir()
    old_file = {"id": "id-1", "path": "data/a.pdf", "size": 3, "digests": {"sha256": "00"}}
    write_json_atomic(ws.work_dir / "validate_sip.json", {
        "files": [old_file], "bag_info": {"title": "t"}, "payload_hash": "p", "algorithms": ["sha256"],
        "warnings": [], "previous_version": None, "dossier_access": {}, "file_access": {},
        "tt05": None, "tt05_standard": None,
    })
    write_json_atomic(ws.work_dir / "identify.json", {"data/a.pdf": found("fmt/276").to_dict()})
    ws.events_dir.mkdir()
    write_json_atomic(ws.events_dir / "receive.json", [{"id": "e1", "event_type": "ingestion start"}])
    state = ws.state()
    state["done"] = ["receive"]
    ws.save_state(state)
    assert list(sip_files(ws)) == [SipFile("id-1", "data/a.pdf", 3, {"sha256": "00"})]
    assert sip_validation(ws).bag_info == {"title": "t"} and sip_validation(ws).package_kind == "BagIt"
    assert identification_map(ws)["data/a.pdf"].puid == "fmt/276"
    assert [e["id"] for e in ws.committed_events()] == ["e1"]

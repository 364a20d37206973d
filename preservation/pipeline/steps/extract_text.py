"""Step 6b, extract text: the text of the originals (born-digital PDFs, OOXML/ODF office files, plain text
such as the OCR text ``kho digitise`` puts beside its PDF/A, XML records), kept with the AIP under
``metadata/preservation/text/`` (``<file id>.txt`` and ``text.json``, listed in METS) and searched once the
AIP is catalogued (the index step hands it to ``preservation.search``; ``kho catalog rebuild`` reads it back
from storage). Decision 0029.

Bounded: at most ``format_registry.text.MAX_FILE_CHARS`` characters a file and ``MAX_AIP_CHARS`` an AIP;
``pdftotext`` with a timeout. A file whose text cannot be read (encrypted, broken, a zip bomb, an entity
bomb) is a line in ``text.json`` with the reason and a ``warning`` in the step's event, never a failed
ingest. Originals are never changed.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import PurePosixPath

from format_registry import text as text_extract
from packages import agents
from packages.aip_reader import TEXT_DIR, TEXT_FORMAT, TEXT_INDEX
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import TextExtraction, as_output, identification_map, sip_files
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.workspace import Workspace, write_bytes_atomic

EVENT_TYPE = "metadata extraction"  # PREMIS event type vocabulary (Library of Congress): text is metadata here


def _pdftotext_agent() -> dict[str, str] | None:
    if shutil.which("pdftotext") is None:
        return None
    from format_registry import toolrun

    line = toolrun.version("pdftotext", (("-v",),))
    return agents.tool("pdftotext", line.removeprefix("pdftotext version ").strip() or "unknown")


def _ocr_sidecar(path: str, payload: set[str]) -> bool:
    """A PDF with a ``.txt`` of the same name beside it (``kho digitise``'s layout): that text is its OCR
    text, read once from the ``.txt`` rather than twice."""
    pure = PurePosixPath(path)
    return pure.suffix.lower() == ".pdf" and str(pure.with_suffix(".txt")) in payload


def step_extract_text(ctx: Context, ws: Workspace) -> None:
    aip_id = ws.aip_id
    folder = ws.aip_dir / TEXT_DIR
    shutil.rmtree(folder, ignore_errors=True)  # a re-run writes the same text again
    identified = identification_map(ws)
    originals = list(sip_files(ws))
    payload = {item.path for item in originals}
    output = TextExtraction()
    entries: list[dict[str, object]] = []
    reasons: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    budget = text_extract.MAX_AIP_CHARS
    for item in originals:
        path = ws.sip_dir / item.path
        identification = identified.get(item.path)
        mime = identification.mime if identification else None
        if text_extract.kind_of(path, mime) is None:
            continue
        if _ocr_sidecar(item.path, payload):
            entries.append({"file_id": item.id, "path": item.path, "method": "", "chars": 0, "truncated": False,
                            "reason": "its OCR text is the .txt file beside it", "text": None})
            continue
        if budget <= 0:
            result = text_extract.none(f"the AIP's text limit ({text_extract.MAX_AIP_CHARS} characters) is reached")
        else:
            result = text_extract.extract_text(path, mime=mime, max_chars=min(text_extract.MAX_FILE_CHARS, budget))
        entry: dict[str, object] = {"file_id": item.id, "path": item.path, **result.to_dict(), "text": None}
        if result.text:
            relpath = f"{TEXT_DIR}/{item.id}.txt"
            folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(ws.aip_dir / relpath, result.text.encode("utf-8"))
            entry["text"] = relpath
            output.files.append(relpath)
            output.with_text += 1
            output.chars += len(result.text)
            budget -= len(result.text)
            methods[result.method] += 1
        else:
            output.without_text += 1
            log.warning("AIP %s extract_text: no text from %s: %s", aip_id, item.path, result.reason)
        if result.reason and (not result.text or result.truncated):
            reasons[f"{item.path}: {result.reason}"] += 1
        entries.append(entry)
    events = EventRecorder(ws, "extract_text", aip_id)
    if entries:
        folder.mkdir(parents=True, exist_ok=True)
        document = {"format": TEXT_FORMAT, "aip_id": aip_id, "max_file_chars": text_extract.MAX_FILE_CHARS,
                    "max_aip_chars": text_extract.MAX_AIP_CHARS, "files": entries}
        write_bytes_atomic(ws.aip_dir / TEXT_INDEX, (json.dumps(document, ensure_ascii=False, indent=1) + "\n")
                           .encode("utf-8"))
        output.files.append(TEXT_INDEX)
        tool = _pdftotext_agent() if methods.get("pdftotext") else None
        links = [agents.link(agents.kho(), "executing program"), *([agents.link(tool, "extractor")] if tool else [])]
        if tool:
            register_agents(ws, tool)
        detail = (f"text of {output.with_text} of {len(entries)} original(s) for search, "
                  f"{output.chars} characters ({', '.join(f'{k} {v}' for k, v in sorted(methods.items())) or 'none'})"
                  f"; kept in {TEXT_DIR}/")
        outcome = "; ".join(reasons)[:4000]
        if reasons:
            events.warning(EVENT_TYPE, agents=links, detail=detail, outcome_detail=outcome)
        else:
            events.success(EVENT_TYPE, agents=links, detail=detail, outcome_detail="all text read")
    ws.complete_step("extract_text", events, as_output(output))
    log.info("AIP %s extract_text: text of %d file(s), %d characters; %d without text", aip_id,
             output.with_text, output.chars, output.without_text)

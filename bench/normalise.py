"""DOCX → PDF/A-2b: documents per minute with Kho's normalisation path (``run_tool_batch``: one
LibreOffice process per batch, each output identified) against one LibreOffice process per document
(``run_tool``, Kho's earlier path) and the bare ``soffice --convert-to ... a.docx b.docx ...`` floor.

Both produce PDF/A-2b (checked by identification: fmt/477). ``--files`` sets the batch (default 20).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import corpus as corpus_mod
from bench.common import Figure, Result, temp_dir

DEFAULT_FILES = 20
FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'


def run(files: int | None = None, runs: int = 3, seed: int = 1, keep: bool = False, **_: Any) -> Result:
    from format_registry.convert import run_tool, run_tool_batch
    from format_registry.identify import identify
    from format_registry.policy import load_policy

    count = files or DEFAULT_FILES
    result = Result("normalise", {"files": count, "runs": runs, "seed": seed})
    soffice = shutil.which("soffice")
    if soffice is None:
        result.notes.append("soffice not installed: nothing measured")
        return result
    tool = load_policy().tools["libreoffice-writer-pdfa"]
    with temp_dir("normalise", keep) as tmp:
        rng = random.Random(seed)  # noqa: S311 - a deterministic corpus, not cryptography
        sources = []
        for number in range(count):
            path = tmp / "docs" / f"tờ-trình-{number:03d}.docx"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(corpus_mod.make_docx(rng, 30_000))
            sources.append(path)
        result.corpus = {"files": count, "format": "DOCX (bench/corpus.py)", "bytes": sum(p.stat().st_size
                                                                                            for p in sources)}
        per_file, warm, kho = [], [], []
        for run_number in range(runs):
            started = time.perf_counter()
            batch = run_tool_batch(tool, sources, tmp / f"kho-{run_number}")
            assert all(c.ok and c.identification and c.identification.puid == "fmt/477" for c in batch)
            kho.append(count / ((time.perf_counter() - started) / 60))
            started = time.perf_counter()
            for index, source in enumerate(sources):
                done = run_tool(tool, source, tmp / f"work-{run_number}-{index}")
                assert done.ok and done.identification and done.identification.puid == "fmt/477", done.error
            per_file.append(count / ((time.perf_counter() - started) / 60))
            out = tmp / f"warm-{run_number}"
            profile = tmp / f"profile-{run_number}"
            started = time.perf_counter()
            command = [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
                       "--convert-to", FILTER, "--outdir", str(out), *map(str, sources)]
            subprocess.run(command, capture_output=True, timeout=1800, check=True,
                           env={"HOME": str(profile), "PATH": "/usr/bin:/bin"})
            warm.append(count / ((time.perf_counter() - started) / 60))
            produced = sorted(Path(out).glob("*.pdf"))
            assert len(produced) == count and all(identify(p).puid == "fmt/477" for p in produced)
        result.add(Figure("DOCX → PDF/A-2b, Kho (one LibreOffice per batch, outputs identified)", "docs/min", kho,
                          "one LibreOffice per document", per_file,
                          other_baselines={"bare soffice for the batch (no checks)": warm}))
    return result

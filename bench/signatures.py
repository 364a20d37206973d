"""What signature validation costs (issue #18): ``kho ingest`` of a SIP of signed PDFs beside the ingest of
the very same PDFs unsigned, in one run, and the validation alone per PDF (``format_registry.signatures``,
in-process, no network: the revocation data is in each file).

The PDFs are made here: one page each with its own text, signed by pyHanko with a test PKI of Vietnamese
names (``tests/signed_samples.py``: root, intermediate, signer; the CRLs embedded as a PAdES signer would).
No real signed Vietnamese record is public, so the corpus is generated; its structure (a PAdES signature
with its chain and revocation data, as Nghị định 30/2020 documents carry) is what the cost depends on.
The unsigned SIP runs the same pipeline, whose signature step then only looks (``find_signatures``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, Result, temp_dir
from bench.ingest import keep_only_policy, kho_ingest

DEFAULT_FILES = 100


def _corpus(folder: Path, files: int) -> tuple[Path, Path, Path]:
    """Two bags of ``files`` PDFs (signed, unsigned) and the trust anchors folder."""
    from bench import corpus as corpus_mod
    from tests.signed_samples import _make_pki, _minimal_pdf, _sign_pdf, _signer

    folder.mkdir(parents=True, exist_ok=True)
    pki = _make_pki(folder, "http://127.0.0.1:9/unused.crl")
    signer = _signer(pki.signer, pki, pki.intermediate)
    signed, unsigned = folder / "signed", folder / "unsigned"
    for number in range(files):
        base = _minimal_pdf(f"Van ban so {number:05d}")
        for bag, data in ((signed, _sign_pdf(base, signer, "NguoiKy", pki)), (unsigned, base)):
            bag.mkdir(exist_ok=True)
            (bag / f"van-ban-{number:05d}.pdf").write_bytes(data)
    corpus_mod.make_bag(signed)
    corpus_mod.make_bag(unsigned)
    return signed, unsigned, pki.anchors_dir


def run(files: int | None = None, runs: int = 3, keep: bool = False, **_: Any) -> Result:
    from format_registry.signatures import load_trust_anchors, validate_file

    files = files or DEFAULT_FILES
    result = Result("signatures", {"files": files, "runs": runs})
    with temp_dir("signatures", keep) as tmp:
        signed, unsigned, anchors_dir = _corpus(tmp / "corpus", files)
        policy = keep_only_policy(tmp / "keep-only-policy.json")  # no PDF/A conversion: the step's cost shows
        env = {"KHO_POLICY": str(policy), "KHO_TRUST_ANCHORS": str(anchors_dir)}
        with_step, without, steps = [], [], []
        for number in range(runs):
            for bag, seconds in ((signed, with_step), (unsigned, without)):
                home = tmp / f"home-{bag.name}-{number}"
                report = tmp / f"steps-{bag.name}-{number}.json"
                seconds.append(kho_ingest(bag, home, report, env).seconds)
                if bag is signed:
                    steps.append(json.loads(report.read_text(encoding="utf-8"))["steps"].get("validate_signatures"))
                shutil.rmtree(home, ignore_errors=True)
        result.add(Figure(f"kho ingest, {files} signed PDFs", "s", with_step,
                          "the same PDFs unsigned", without, higher_is_better=False,
                          note="keep-only policy (no PDF/A conversion); trust anchors set; no network"))
        per_pdf = [(a - b) / files * 1000 for a, b in zip(with_step, without, strict=True)]
        result.add(Figure("ingest cost of a signed PDF over an unsigned one", "ms/PDF", per_pdf,
                          higher_is_better=False))
        result.add(Figure("validate_signatures step, per signed PDF", "ms/PDF",
                          [s / files * 1000 for s in steps if s is not None], higher_is_better=False,
                          note="the step's own time in the signed run (bench.kho_timed)"))
        anchors = load_trust_anchors(anchors_dir)
        paths = sorted((signed / "data").glob("*.pdf"))
        alone = []
        for _ in range(runs):
            begun = time.perf_counter()
            verdicts = [r.status.value for p in paths for r in validate_file(p, anchors)]
            alone.append((time.perf_counter() - begun) / len(paths) * 1000)
        result.add(Figure("validate_file alone, one PAdES signature", "ms/PDF", alone, higher_is_better=False,
                          note=f"in-process, warm; verdicts: {dict((v, verdicts.count(v)) for v in set(verdicts))}"))
        result.extra["validate_signatures step seconds (median)"] = statistics.median(
            [s for s in steps if s is not None] or [0.0])
    result.notes.append("generated corpus (no public signed Vietnamese records); see the module docstring")
    return result

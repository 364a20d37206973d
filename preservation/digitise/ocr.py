"""Page images to a two-layer PDF/A-2b (the scans + Tesseract's invisible Vietnamese text), with OCRmyPDF.

The pages are first put into one PDF by img2pdf, which embeds JPEG data as it is and other images
losslessly at their recorded resolution (TT 05: 100 % scale); OCRmyPDF then adds the text layer and
makes it PDF/A-2b, as in the TT 05 sample package. OCRmyPDF runs Tesseract and Ghostscript as child
processes and has no overall time limit of its own, so its Python API is called in a worker process of
ours (``python -m preservation.digitise.ocr IN OUT SIDECAR ...``) started through
``format_registry.toolrun``: a timeout kills the worker's whole process group, Tesseracts included, and
a stuck page can never hold up a batch for ever.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from format_registry import toolrun
from preservation.digitise.rules import OcrOptions

LIST_LANGS_TIMEOUT = 30.0


class OcrError(RuntimeError):
    """OCR of a document failed or timed out; the message is bilingual."""


class ToolsMissing(OcrError):
    """Tesseract, its Vietnamese model or OCRmyPDF is not installed: the installation's problem, not the scans'."""


@dataclass(frozen=True)
class OcrResult:
    pdf: Path
    text: Path
    seconds: float
    ocrmypdf_version: str
    tesseract_version: str


def check_tools(language: str) -> None:
    """OcrError unless Tesseract is installed with every language of ``language`` (``vie``, ``vie+eng``)."""
    if shutil.which("tesseract") is None:
        raise ToolsMissing("Tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-vie) / "
                       "chưa cài Tesseract (Debian: apt-get install tesseract-ocr tesseract-ocr-vie)")
    result = toolrun.run(["tesseract", "--list-langs"], timeout=LIST_LANGS_TIMEOUT, max_stdout=64 * 1024)
    known = set(result.stdout_text().split()) if result.ok else set()
    missing = [lang for lang in language.split("+") if lang not in known]
    if missing:
        raise ToolsMissing(f"Tesseract has no model for {', '.join(missing)} (Debian: apt-get install "
                       f"{' '.join('tesseract-ocr-' + m for m in missing)}) / Tesseract chưa có mô hình ngôn ngữ "
                       f"{', '.join(missing)}")
    try:
        import img2pdf  # noqa: F401
        import ocrmypdf  # noqa: F401
    except ImportError as exc:
        raise ToolsMissing(f"OCRmyPDF is not installed ({exc}) / chưa cài OCRmyPDF") from exc


def images_to_pdf(files: Sequence[Path], target: Path) -> None:
    """One PDF of ``files`` in order, every frame of a multi-page TIFF a page, at each image's resolution."""
    import img2pdf

    try:
        data = img2pdf.convert([os.fspath(f) for f in files], rotation=img2pdf.Rotation.ifvalid)
    except Exception as exc:  # img2pdf raises its own and Pillow's errors for images it cannot embed
        raise OcrError(f"the pages cannot be put into a PDF: {exc} / không ghép được các trang thành PDF: "
                       f"{exc}") from exc
    target.write_bytes(data)


def run_ocr(source_pdf: Path, pdf: Path, text: Path, options: OcrOptions, pages: int, scratch: Path) -> OcrResult:
    """``source_pdf`` with a Vietnamese text layer as PDF/A-2b at ``pdf``; the recognised text, NFC, at ``text``."""
    scratch.mkdir(parents=True, exist_ok=True)
    sidecar = scratch / "sidecar.txt"
    args = [sys.executable, "-m", "preservation.digitise.ocr", os.fspath(source_pdf), os.fspath(pdf),
            os.fspath(sidecar), "--language", options.language, "--jobs", str(options.jobs)]
    args += ["--deskew"] if options.deskew else []
    args += ["--clean"] if options.clean else []
    timeout = options.timeout_for(pages)
    # OCRmyPDF's own temporary folder goes into our scratch folder (inside KHO_HOME, not the system's /tmp)
    result = toolrun.run(args, timeout=timeout, env={"TMPDIR": os.fspath(scratch)}, max_stdout=64 * 1024)
    if result.timed_out:
        raise OcrError(f"OCR took longer than {timeout:g} s and was stopped (ocr.timeout_seconds*) / nhận dạng "
                       f"chữ quá {timeout:g} giây, đã dừng")
    report: dict[str, str] = {}
    for line in result.stdout_text().splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                report = json.loads(line)
    if not result.ok or not pdf.is_file():
        tail = " | ".join(result.stderr_text().strip().splitlines()[-3:])
        said = f": {report['error']}" if "error" in report else ""
        raise OcrError(f"OCRmyPDF failed (exit {result.returncode}{said}): {tail} / "
                       f"OCRmyPDF lỗi (mã {result.returncode})")
    raw = sidecar.read_text(encoding="utf-8", errors="replace") if sidecar.is_file() else ""
    text.write_text(unicodedata.normalize("NFC", raw), encoding="utf-8", newline="\n")
    return OcrResult(pdf=pdf, text=text, seconds=result.seconds, ocrmypdf_version=report.get("ocrmypdf", "unknown"),
                     tesseract_version=toolrun.version("tesseract"))


def main(argv: Sequence[str] | None = None) -> int:
    """The worker: OCRmyPDF's Python API on one PDF; prints one JSON line (versions, exit code)."""
    parser = argparse.ArgumentParser(prog="python -m preservation.digitise.ocr")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("sidecar")
    parser.add_argument("--language", default="vie")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--deskew", action="store_true")
    parser.add_argument("--clean", action="store_true")
    args = parser.parse_args(argv)
    import ocrmypdf

    try:
        code = ocrmypdf.ocr(
            args.input, args.output, language=args.language.split("+"), output_type="pdfa-2",
            sidecar=args.sidecar, jobs=args.jobs, deskew=args.deskew, clean=args.clean,
            clean_final=False, rotate_pages=False, progress_bar=False,
        )
    except ocrmypdf.exceptions.ExitCodeException as exc:
        print(json.dumps({"ocrmypdf": ocrmypdf.__version__, "exit": int(exc.exit_code), "error": str(exc)}))
        return int(exc.exit_code) or 1
    print(json.dumps({"ocrmypdf": ocrmypdf.__version__, "exit": int(code)}))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())

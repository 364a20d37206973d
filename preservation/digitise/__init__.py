"""Digitisation of paper records (số hóa tài liệu giấy, TT 05/2025/TT-BNV Điều 8).

Folders of scanned pages plus the TT 05 ``hoso.json`` become one BagIt SIP that the normal ``kho ingest``
takes, holding per document the master images as scanned, a two-layer PDF/A-2b (page images + invisible
Vietnamese OCR text, OCRmyPDF with Tesseract ``vie``) and the recognised text. The pages are checked
against the TT 05 image rules (``format_registry/digitisation.yaml``) before anything is built.

- :mod:`.rules`: the quality rules file, schema-checked when loaded;
- :mod:`.quality`: the page checks (resolution, colour mode, bit depth, decoding, page count, blank pages);
- :mod:`.ocr`: pages -> PDF (img2pdf) -> PDF/A-2b with a text layer (OCRmyPDF in a worker with a timeout);
- :mod:`.sign`: the organisation's PAdES signature on each PDF/A (when ``KHO_SIGNING_KEY`` is set);
- :mod:`.build`: the order of it all, and the bag (docs/decisions/0026-digitisation.md).

Nothing here imports the pipeline: the SIP enters Kho through the ingest like any other.
"""

from __future__ import annotations

from preservation.digitise.build import BuildError, DigitiseResult, UsageError, digitise
from preservation.digitise.ocr import OcrError, ToolsMissing
from preservation.digitise.quality import Finding
from preservation.digitise.rules import Rules, RulesError, load_rules
from preservation.digitise.sign import CopySigning, SigningFailed

__all__ = ["BuildError", "CopySigning", "DigitiseResult", "Finding", "OcrError", "Rules", "RulesError",
           "SigningFailed", "ToolsMissing", "UsageError", "digitise", "load_rules"]

"""``kho digitise SCANS_DIR --metadata hoso.json -o SIP_DIR``: scanned paper records to a SIP for ``kho ingest``.

Exit codes: 0 the SIP was written; 1 refused (a page or the metadata breaks a TT 05 rule, or the OCR /
PDF/A / bag could not be made): nothing is written at SIP_DIR; 2 usage (missing folder, unreadable
hoso.json, SIP_DIR not empty, a broken digitisation.yaml, Tesseract or its Vietnamese model missing).
See README "Digitisation" and docs/decisions/0026-digitisation.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Json, app, command, print_json
from preservation.config import Settings


@command(app, "digitise",
         help="scanned pages (a folder per document) + TT 05 hoso.json -> a BagIt SIP with two-layer PDF/A "
              "(Vietnamese OCR) for kho ingest / số hóa tài liệu giấy")
def digitise(
    settings: Settings,
    scans_dir: Annotated[Path, typer.Argument(metavar="SCANS_DIR", help="a folder per document of page images "
                                              "(TIFF, JPEG, PNG; multi-page TIFF too)")],
    metadata: Annotated[Path, typer.Option("--metadata", "-m", metavar="HOSO_JSON",
                                           help="TT 05 metadata; each document's \"file\" names its folder in "
                                                "SCANS_DIR")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="SIP_DIR",
                                         help="the SIP to write (must not exist, or be an empty folder)")],
    quality: Annotated[Path | None, typer.Option(
        "--quality", metavar="YAML", help="quality rules (default: format_registry/digitisation.yaml)")] = None,
    deskew: Annotated[bool | None, typer.Option(
        "--deskew/--no-deskew", help="straighten pages in the PDF/A (masters are never changed)")] = None,
    clean: Annotated[bool | None, typer.Option(
        "--clean/--no-clean", help="clean pages with unpaper before OCR (the PDF/A keeps the scanned image)")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, max=64, help="OCRmyPDF workers per document")] = None,
    source_organization: Annotated[str | None, typer.Option(
        "--source-organization", help="bag-info Source-Organization (the submitting agency)")] = None,
    as_json: Json = False,
) -> int:
    """Check every page and the metadata first (refusing with every reason, writing nothing), then build."""
    import dataclasses

    from preservation.digitise import BuildError, OcrError, RulesError, ToolsMissing, UsageError, load_rules
    from preservation.digitise import digitise as run
    from preservation.digitise.sign import signing_from_settings

    try:
        rules = load_rules(quality)
    except RulesError as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = dataclasses.replace(rules.ocr, deskew=rules.ocr.deskew if deskew is None else deskew,
                                  clean=rules.ocr.clean if clean is None else clean, jobs=jobs or rules.ocr.jobs)
    settings.adopt_scratch_dir()  # OCRmyPDF's work files go inside KHO_HOME, never the system's /tmp
    try:
        signing = signing_from_settings(settings)
    except ValueError as exc:  # SigningError: the key is configured but cannot be used
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = run(scans_dir, metadata, output, rules, options=options, scratch_dir=settings.scratch_dir,
                     source_organization=source_organization, keep_digests=tuple(settings.digests),
                     sip_limits=settings.sip_limits(), signing=signing)
    except (UsageError, ToolsMissing) as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (BuildError, OcrError, OSError) as exc:  # OSError: a full disk, a folder that went away
        print(f"kho: digitisation failed, nothing written / số hóa không thành công, không ghi gì: {exc}",
              file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print_json(result.to_dict())
    for finding in result.findings:
        label = "refused / từ chối" if finding.level == "error" else "warning / cảnh báo"
        print(f"{label}: {finding.line()}", file=sys.stderr)
    if result.refused:
        errors = sum(f.level == "error" for f in result.findings)
        print(f"kho: {errors} problem(s): nothing written / {errors} lỗi: không tạo gói SIP", file=sys.stderr)
        return EXIT_REJECTED
    if not as_json:
        pages = sum(len(d["pages"]) for d in result.documents)
        print(f"{output}: SIP written / đã tạo gói SIP ({len(result.documents)} documents, {pages} pages); "
              f"next / tiếp theo: kho ingest {output}")
    return EXIT_OK


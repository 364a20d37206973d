"""Airflow DAG ``digitisation``: ``kho digitise`` with one mapped task per document, then the normal ingest.

Trigger with conf ``{"scans_dir": "/scans/H40.2024.01-VP", "metadata": "/scans/H40.2024.01-VP/hoso.json",
"sip_dir": "/staging/H40.2024.01-VP", "deskew": false, "clean": false, "ingest": true}``.

- ``check``: every page and the metadata against TT 05 and ``digitisation.yaml``, before any OCR; a
  refusal fails the run with every reason (nothing is written), as ``kho digitise`` exits 1;
- ``build_document`` (mapped, one per document): OCR to a two-layer PDF/A-2b, signed with the archive's
  key when ``KHO_SIGNING_KEY`` is set. OCR is the slow part and documents are independent, so Airflow
  spreads them over workers; each runs OCRmyPDF with ``ocr.jobs`` workers (bench/results/ocr.json
  compares the two kinds of parallelism);
- ``finish``: the bag, validated as ``kho ingest`` will, renamed to ``sip_dir``;
- ``start_ingest``: triggers the ``ingest`` DAG on it (no second pipeline), with ``{"sip_path": sip_dir}``
  (the ingest copies the SIP). A ``sip_dir`` inside the watched ingest folder is not triggered: the
  ``ingest_scan`` DAG claims it there (``finish`` renames the complete SIP into place), and a second run
  on the same SIP would race the first.

A failed run leaves no half-built SIP: ``finish`` runs only when every document was built, and
``discard`` removes the staging folder otherwise (docs/decisions/0026-digitisation.md).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.config import load_settings
from preservation.digitise import BuildError, OcrError, RulesError, UsageError, load_rules
from preservation.digitise.build import build_staged, discard_staged, finish_staged, stage
from preservation.digitise.rules import OcrOptions, Rules
from preservation.digitise.sign import signing_from_settings

DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(seconds=30)}


def _rules_and_options(params: dict[str, Any]) -> tuple[Rules, OcrOptions]:
    try:
        rules = load_rules(Path(params["quality"]) if params.get("quality") else None)
    except RulesError as exc:
        raise AirflowFailException(str(exc)) from None
    options = dataclasses.replace(rules.ocr, deskew=bool(params.get("deskew", rules.ocr.deskew)),
                                  clean=bool(params.get("clean", rules.ocr.clean)))
    return rules, options


@dag(
    dag_id="digitisation",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    params={
        "scans_dir": Param("", type="string", minLength=1, description="a folder per document of page images"),
        "metadata": Param("", type="string", minLength=1, description="the TT 05 hoso.json"),
        "sip_dir": Param("", type="string", minLength=1, description="the SIP to write (absent or empty)"),
        "quality": Param(None, type=["null", "string"], description="rules file (default digitisation.yaml)"),
        "deskew": Param(False, type="boolean"),
        "clean": Param(False, type="boolean"),
        "ingest": Param(True, type="boolean", description="trigger the ingest DAG on the SIP"),
        "source_organization": Param(None, type=["null", "string"]),
    },
    tags=["kho"],
    doc_md=__doc__,
)
def digitisation() -> None:
    @task
    def check(**context: Any) -> dict[str, Any]:
        params = context["params"]
        rules, options = _rules_and_options(params)
        settings = load_settings()
        settings.adopt_scratch_dir()
        try:
            staged, result = stage(Path(params["scans_dir"]), Path(params["metadata"]), Path(params["sip_dir"]),
                                   rules, options, scratch_dir=settings.scratch_dir)
        except (UsageError, OcrError) as exc:  # OcrError: ToolsMissing
            raise AirflowFailException(str(exc)) from None
        for finding in result.findings:
            print(("refused / từ chối: " if finding.level == "error" else "warning / cảnh báo: ") + finding.line())
        if staged is None:
            raise AirflowFailException(f"{sum(f.level == 'error' for f in result.findings)} problem(s): nothing "
                                       "written / không tạo gói SIP")
        return staged

    @task
    def documents(staged: dict[str, Any]) -> list[int]:
        return list(range(len(staged["documents"])))

    @task(max_active_tis_per_dagrun=8)
    def build_document(number: int, staged: dict[str, Any], **context: Any) -> dict[str, Any]:
        rules, options = _rules_and_options(context["params"])
        try:
            return build_staged(staged, number, rules, options, signing_from_settings(load_settings()))
        except (BuildError, OcrError, ValueError) as exc:  # ValueError: SigningError, an unusable key
            raise AirflowFailException(str(exc)) from None

    @task
    def finish(staged: dict[str, Any], built: list[dict[str, Any]], **context: Any) -> str:
        settings = load_settings()
        try:
            sip = finish_staged(staged, list(built), source_organization=context["params"].get("source_organization"),
                                keep_digests=tuple(settings.digests), sip_limits=settings.sip_limits())
        except BuildError as exc:
            raise AirflowFailException(str(exc)) from None
        print(f"{sip}: SIP written / đã tạo gói SIP ({len(built)} documents)")
        return str(sip)

    @task(trigger_rule="one_failed")
    def discard(staged: dict[str, Any]) -> None:
        discard_staged(staged)

    @task
    def ingest_conf(sip: str, **context: Any) -> list[dict[str, Any]]:
        """One ingest run for the SIP, or none (an empty map) when ``ingest`` is off or the SIP lies in the
        ingest folder, where ``ingest_scan`` claims it."""
        if not context["params"].get("ingest", True):
            return []
        ingest_dir = load_settings().ingest_dir
        if Path(sip).resolve().is_relative_to(Path(ingest_dir).resolve()):
            print(f"{sip} is in the ingest folder {ingest_dir}: ingest_scan claims it / gói SIP nằm trong thư mục "
                  "tiếp nhận, ingest_scan sẽ tiếp nhận")
            return []
        return [{"sip_path": sip}]

    staged = check()
    built = build_document.partial(staged=staged).expand(number=documents(staged))
    sip = finish(staged, built)
    built >> discard(staged)
    TriggerDagRunOperator.partial(task_id="start_ingest", trigger_dag_id="ingest").expand(conf=ingest_conf(sip))


digitisation()

"""The ingest pipeline: one SIP in, one verified, catalogued AIP out.

``intake`` turns a SIP into a workspace, ``steps`` holds one module a step, ``runner`` runs them
(idempotent, locked, resumable). The CLI runs the steps in-process; the Airflow ``ingest`` DAG runs
the very same functions, one task per step. This module is the one public face of all of it."""

from __future__ import annotations

from preservation.pipeline.context import Context
from preservation.pipeline.intake import claim, ready_sips, start_copy
from preservation.pipeline.results import IngestError, IngestResult, SipRejected, result_json, summary_line
from preservation.pipeline.runner import (
    ingest_path,
    result_for,
    resumable,
    resume_all,
    run_pipeline,
    run_step,
    scan_ingest_folder,
)
from preservation.pipeline.steps import STEP_FUNCTIONS, STEPS
from preservation.pipeline.steps.index import MAX_TITLE
from preservation.pipeline.steps.normalise import NORMALISE_BATCH, normalise_batch, normalise_merge, normalise_plan

__all__ = [
    "MAX_TITLE",
    "NORMALISE_BATCH",
    "STEPS",
    "STEP_FUNCTIONS",
    "Context",
    "IngestError",
    "IngestResult",
    "SipRejected",
    "claim",
    "ingest_path",
    "normalise_batch",
    "normalise_merge",
    "normalise_plan",
    "ready_sips",
    "result_for",
    "result_json",
    "resumable",
    "resume_all",
    "run_pipeline",
    "run_step",
    "scan_ingest_folder",
    "start_copy",
    "summary_line",
]

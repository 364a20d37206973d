"""The ingest steps, in order: one module a step, each ``step(ctx, ws)`` idempotent, recording its PREMIS
events (success and failure) with its output before it is marked done.

``STEPS`` is the one list the runner, the CLI and the Airflow ``ingest`` DAG all follow."""

from __future__ import annotations

from collections.abc import Callable

from preservation.pipeline.context import Context
from preservation.pipeline.steps.describe import step_describe
from preservation.pipeline.steps.extract_text import step_extract_text
from preservation.pipeline.steps.fixity import step_fixity
from preservation.pipeline.steps.identify import step_identify
from preservation.pipeline.steps.index import step_index
from preservation.pipeline.steps.normalise import step_normalise
from preservation.pipeline.steps.package import step_package
from preservation.pipeline.steps.receive import step_receive
from preservation.pipeline.steps.store import step_store
from preservation.pipeline.steps.validate_formats import step_validate_formats
from preservation.pipeline.steps.validate_signatures import step_validate_signatures
from preservation.pipeline.steps.validate_sip import step_validate_sip
from preservation.pipeline.steps.virus_check import step_virus_check
from preservation.workspace import Workspace

STEP_FUNCTIONS: dict[str, Callable[[Context, Workspace], None]] = {
    "receive": step_receive,
    "validate_sip": step_validate_sip,
    "virus_check": step_virus_check,
    "identify": step_identify,
    "validate_signatures": step_validate_signatures,
    "validate_formats": step_validate_formats,
    "normalise": step_normalise,
    "extract_text": step_extract_text,
    "fixity": step_fixity,
    "describe": step_describe,
    "package": step_package,
    "store": step_store,
    "index": step_index,
}
STEPS: list[str] = list(STEP_FUNCTIONS)

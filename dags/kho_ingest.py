"""Airflow DAGs for ingest. Thin by design: each task runs one step function of
``preservation.pipeline`` and passes only the workspace path through XCom.

- ``ingest``: one run per SIP. Trigger with conf ``{"sip_path": "/path/to/bag"}`` (the SIP is
  copied, never changed) or ``{"workspace": "..."}`` (a SIP already claimed by ``ingest_scan``).
- ``ingest_scan``: every minute, claims each settled SIP in the ingest folder (atomic rename)
  and interrupted workspaces idle for ``KHO_RESUME_AFTER_SECONDS``, and starts one ``ingest``
  run for each (docs/decisions/0003-ingest-folder-scan.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from preservation import pipeline
from preservation.config import load_settings
from preservation.workspace import Workspace, WorkspaceBusy

DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=30)}


def _run_step(step: str, workspace: str) -> str:
    try:
        with pipeline.Context(load_settings()) as ctx:
            pipeline.run_step(ctx, Workspace(Path(workspace)), step)
    except pipeline.SipRejected as rejected:
        # A rejected SIP will not become valid by retrying: fail the run at once, with the reason.
        raise AirflowFailException(
            f"SIP rejected: {rejected.result.reason}; see {rejected.result.failed_path}"
        ) from None
    except WorkspaceBusy as busy:
        # Another live process holds this ingest (a second run the scan started while the first was still
        # queued, or a `kho resume`): that one finishes it; this run steps aside instead of failing red.
        raise AirflowSkipException(f"another process is ingesting this SIP, which finishes it: {busy}") from None
    return workspace


def _step_task(step: str) -> Any:
    @task(task_id=step)
    def run(workspace: str) -> str:
        return _run_step(step, workspace)

    return run


@task(task_id="normalise_plan")
def _normalise_plan(workspace: str) -> list[dict[str, Any]]:
    ws = Workspace(Path(workspace))
    with pipeline.Context(load_settings()) as ctx, ws.locked():
        batches = pipeline.normalise_plan(ctx, ws)
    return [{"workspace": workspace, "batch": batch} for batch in batches]


@task(task_id="normalise_batch")
def _normalise_batch(item: dict[str, Any]) -> None:
    with pipeline.Context(load_settings()) as ctx:
        pipeline.normalise_batch(ctx, Workspace(Path(item["workspace"])), int(item["batch"]))


def _normalise_tasks(workspace: Any) -> Any:
    """Normalisation as mapped batches (one task per batch of conversions, spread over workers), then
    the ``normalise`` step, which merges them (and runs any batch that did not)."""
    batches = _normalise_batch.expand(item=_normalise_plan(workspace))

    @task(task_id="normalise", trigger_rule="none_failed_min_one_success")  # all skipped: a busy run steps aside
    def merge(workspace: str) -> str:
        return _run_step("normalise", workspace)

    merged = merge(workspace)
    batches >> merged
    return merged


@dag(
    dag_id="ingest",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=8,
    default_args=DEFAULT_ARGS,
    params={
        "sip_path": Param(None, type=["null", "string"], description="a BagIt SIP to copy and ingest"),
        "workspace": Param(None, type=["null", "string"], description="a workspace claimed by ingest_scan"),
        "profile": Param("bagit", enum=["bagit", "vn"]),
    },
    tags=["kho"],
    doc_md=__doc__,
)
def ingest() -> None:
    @task(task_id="receive")
    def receive(**context: Any) -> str:
        params = context["params"]
        try:
            with pipeline.Context(load_settings()) as ctx:
                if params.get("workspace"):
                    workspace = Workspace(Path(params["workspace"]))
                elif params.get("sip_path"):
                    workspace = pipeline.start_copy(ctx, Path(params["sip_path"]), params.get("profile") or "bagit")
                else:
                    raise AirflowFailException("conf must give sip_path or workspace")
                pipeline.run_step(ctx, workspace, "receive")
        except WorkspaceBusy as busy:  # see _run_step
            raise AirflowSkipException(f"another process is ingesting this SIP, which finishes it: {busy}") from None
        return str(workspace.path)

    workspace = receive()
    for step in pipeline.STEPS[1:]:
        if step == "normalise":
            workspace = _normalise_tasks(workspace)
            continue
        workspace = _step_task(step)(workspace)


@dag(
    dag_id="ingest_scan",
    schedule=timedelta(minutes=1),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["kho"],
    doc_md=__doc__,
)
def ingest_scan() -> None:
    @task
    def claim_sips() -> list[dict[str, str]]:
        with pipeline.Context(load_settings()) as ctx:
            claimed = pipeline.scan_ingest_folder(ctx)
            stale = [ws for ws in pipeline.resumable(ctx, stale_only=True) if ws not in claimed]
        return [{"workspace": str(ws.path)} for ws in [*claimed, *stale]]

    TriggerDagRunOperator.partial(task_id="start_ingest", trigger_dag_id="ingest").expand(conf=claim_sips())


ingest()
ingest_scan()

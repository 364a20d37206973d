"""Airflow DAG ``transfer``: daily, lists permanent records due or overdue for hand-over to the
historical archive (Luật Lưu trữ 2024 Điều 17; Decision 458's 3-year target beside it). With conf
``{"export": ["<aip-id>", ...], "to": "...", "output": "/path"}`` it also exports those AIPs as
E-ARK SIP ZIPs with their PREMIS history; receiving and the receipt stay explicit CLI steps
(`kho transfer receive`, `kho transfer receipt`), because they need the other archive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.catalog_guard import open_catalog
from preservation.config import load_settings
from preservation.retention import deadlines
from preservation.transfer import TransferError, export_aips


@dag(
    dag_id="transfer",
    schedule=timedelta(days=1),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"export": Param([], type="array"), "to": Param(None, type=["null", "string"]),
            "output": Param(None, type=["null", "string"])},
    tags=["kho"],
    doc_md=__doc__,
)
def transfer() -> None:
    @task
    def due_and_export(**context: Any) -> dict[str, Any]:
        params = context["params"]
        settings = load_settings()
        catalog = open_catalog(settings)
        try:
            today = datetime.now(UTC).date()
            status: dict[str, list[str]] = {}
            for aip in catalog.list_aips():
                if aip.deleted_at is not None:
                    continue
                state = deadlines(aip.bag_info, aip.stored_at).status(
                    today, aip.transferred_at.date() if aip.transferred_at else None)
                status.setdefault(state, []).append(aip.id)
            for state in ("overdue", "due"):
                for aip_id in status.get(state, []):
                    print(f"{state.upper()}: {aip_id}")
            exported: list[str] = []
            if params.get("export"):
                if not params.get("to") or not params.get("output"):
                    raise AirflowFailException("export needs conf 'to' (receiving archive) and 'output' (folder)")
                try:
                    result = export_aips(catalog, list(params["export"]), Path(params["output"]),
                                         sender=settings.organization, receiver=params["to"],
                                         organization=settings.organization)
                except TransferError as exc:
                    raise AirflowFailException(str(exc)) from None
                exported = [p["package"] for p in result.packages]
        finally:
            catalog.close()
        return {"overdue": len(status.get("overdue", [])), "due": len(status.get("due", [])), "exported": exported}

    due_and_export()


transfer()

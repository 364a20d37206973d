"""Airflow DAG ``transfer``: daily, lists permanent records due or overdue for hand-over to the
historical archive (Luật Lưu trữ 2024 Điều 17; Decision 458's 3-year target beside it). With conf
``{"export": ["<aip-id>", ...], "to": "...", "output": "/path"}`` it also exports those AIPs as
E-ARK SIP ZIPs with their PREMIS history; receiving and the receipt stay explicit CLI steps
(`kho transfer receive`, `kho transfer receipt`), because they need the other archive."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.service import Service
from preservation.transfer import TransferError, export_aips, hand_over_list


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
        with Service.open() as service:
            status: dict[str, list[str]] = {}
            for record in hand_over_list(service.catalog):  # most urgent first, as `kho transfer list`
                status.setdefault(record.status, []).append(record.aip_id)
            for state in ("overdue", "due"):
                for aip_id in status.get(state, []):
                    print(f"{state.upper()}: {aip_id}")
            exported: list[str] = []
            if params.get("export"):
                if not params.get("to") or not params.get("output"):
                    raise AirflowFailException("export needs conf 'to' (receiving archive) and 'output' (folder)")
                organization = service.settings.organization
                try:
                    result = export_aips(service.catalog, list(params["export"]), Path(params["output"]),
                                         sender=organization, receiver=params["to"], organization=organization)
                except TransferError as exc:
                    raise AirflowFailException(str(exc)) from None
                exported = [p["package"] for p in result.packages]
        return {"overdue": len(status.get("overdue", [])), "due": len(status.get("due", [])), "exported": exported}

    due_and_export()


transfer()

"""Airflow DAG ``fixity_audit``: daily, re-reads the least recently audited share of the
archive (every copy once per ``KHO_FIXITY_CYCLE_DAYS``, default 30) and repairs bad copies.
Triggered with conf ``{"aip_id": ...}`` it audits that AIP only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.fixity import audit, scheduled_share
from preservation.service import Service


@dag(
    dag_id="fixity_audit",
    schedule=timedelta(days=1),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"aip_id": Param(None, type=["null", "string"])},
    tags=["kho"],
    doc_md=__doc__,
)
def fixity_audit() -> None:
    @task
    def run_audit(**context: Any) -> dict[str, int]:
        with Service.open() as service:
            aip_id = context["params"].get("aip_id")
            share = None if aip_id else scheduled_share(service.catalog, service.settings.fixity_cycle_days)
            summary = audit(service.catalog, aip_id=aip_id, max_aips=share)
        print(summary.table())
        result = {k: v for k, v in summary.to_dict().items() if isinstance(v, int)}
        if summary.unrepaired:
            raise AirflowFailException(f"{summary.unrepaired} damaged copies could not be repaired: {result}")
        return result

    run_audit()


fixity_audit()

"""Airflow DAG ``fixity_audit``: daily, re-reads the least recently audited share of the
archive (every copy once per ``KHO_FIXITY_CYCLE_DAYS``, default 30) and repairs bad copies.
Triggered with conf ``{"aip_id": ...}`` it audits that AIP only."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.catalog_guard import open_catalog
from preservation.config import load_settings
from preservation.fixity import audit, scheduled_share


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
        settings = load_settings()
        catalog = open_catalog(settings)
        try:
            aip_id = context["params"].get("aip_id")
            share = None if aip_id else scheduled_share(catalog, int(os.environ.get("KHO_FIXITY_CYCLE_DAYS", "30")))
            summary = audit(catalog, aip_id=aip_id, max_aips=share)
        finally:
            catalog.close()
        print(summary.table())
        result = {k: v for k, v in summary.to_dict().items() if isinstance(v, int)}
        if summary.unrepaired:
            raise AirflowFailException(f"{summary.unrepaired} damaged copies could not be repaired: {result}")
        return result

    run_audit()


fixity_audit()

"""Airflow DAG ``dip_request``: build a dissemination package on request.

Trigger with conf ``{"aip_id": ..., "requester": ..., "role": "reader|archivist|administrator",
"purpose": ..., "files": [...]}``; the task runs ``preservation.dip.build_dip`` and returns the
zip's path. A bad stored copy never ends up in a DIP: the build stops (and the AIP is audited and
repaired) rather than deliver it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.dip import DipError, build_dip
from preservation.service import Service


@dag(
    dag_id="dip_request",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "aip_id": Param("", type="string", minLength=1),
        "requester": Param("", type="string", minLength=1),
        "role": Param("reader", enum=["reader", "archivist", "administrator"]),
        "purpose": Param("01", type="string"),
        "files": Param([], type="array"),
        "request_id": Param(None, type=["null", "string"]),
    },
    tags=["kho"],
    doc_md=__doc__,
)
def dip_request() -> None:
    @task
    def build(**context: Any) -> dict[str, Any]:
        params = context["params"]
        with Service.open() as service:
            try:
                result = build_dip(service.catalog, params["aip_id"], requester=params["requester"],
                                   role=params["role"], purpose=params["purpose"],
                                   out_dir=service.settings.home / "dips", files=params.get("files") or None,
                                   request_id=params.get("request_id"))
            except DipError as exc:
                raise AirflowFailException(str(exc)) from None
        return {"zip": str(result.zip_path), "delivered": len(result.delivered), "withheld": result.withheld_count}

    build()


dip_request()

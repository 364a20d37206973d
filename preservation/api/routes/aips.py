"""``GET /aips`` and ``GET /aips/{aip_id}``: the AIPs a requester's role may see.

The answers are built by ``preservation.aip_views`` (shared with ``kho aip``); this module only maps them to HTTP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from preservation.aip_views import AipDetail, AipPage, aip_detail, aip_page
from preservation.api.auth import Who
from preservation.api.deps import CatalogDep
from preservation.api.errors import not_found, responses

router = APIRouter(tags=["aips"])


@router.get("/aips", response_model=AipPage, responses=responses(401, 422))
def list_aips(
    who: Who,
    catalog: CatalogDep,
    q: Annotated[str | None, Query(max_length=200, description="Words in title, SIP name or metadata")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> AipPage:
    """AIPs the requester's role may see (readers: public and not embargoed), oldest first."""
    return aip_page(catalog, who.role, query=q, limit=limit, offset=offset)


@router.get("/aips/{aip_id}", response_model=AipDetail, responses=responses(401, 404, 422))
def get_aip(who: Who, catalog: CatalogDep, aip_id: Annotated[str, PathParam(max_length=64)]) -> AipDetail:
    """One AIP; files the role may not receive are only counted (``withheld_count``), never named."""
    detail = aip_detail(catalog, who.role, aip_id)
    if detail is None:
        raise not_found(aip_id, who.role)
    return detail

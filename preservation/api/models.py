"""The API's request and response bodies (pydantic): they are the OpenAPI document's schemas.

The AIP views (``AipSummary``, ``AipPage``, ``AipDetail``, ``FileOut``) live in ``preservation.aip_views``, where
they are built for a role; they are re-exported here so that every model of the API can be found in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from preservation.aip_views import AipDetail, AipPage, AipSummary, FileOut

__all__ = ["AipDetail", "AipPage", "AipSummary", "DeliveredFile", "DipOut", "DipRequest", "FileOut", "Health",
           "PlainText"]

# text a person typed: not blank, no control characters (they would break METS/PREMIS XML after the DIP is half
# made); the pattern (not only strip + min_length) keeps the OpenAPI document exact about blank values
PlainText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500,
                                             pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")]


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class DipRequest(BaseModel):
    purpose: PlainText = Field(description="Why the material is requested (TT 05 purpose code or text)")
    files: list[PlainText] | None = Field(None, max_length=10_000,
                                          description="Only these originals (paths in the SIP or the AIP)")
    request_id: PlainText | None = Field(None, description="The reading room's request number")


class DeliveredFile(BaseModel):
    path: str = Field(description="Inside the zip")
    source: str = Field(description="The AIP file delivered")
    original: str
    copy_role: str = Field(alias="copy", description="original | preservation | access")
    puid: str | None
    mime: str | None
    size: int
    sha256: str


class DipOut(BaseModel):
    dip_id: str
    dip_name: str
    aip_id: str
    requester: str
    role: str
    purpose: str
    request_id: str | None
    created_at: datetime
    delivered: list[DeliveredFile]
    withheld_count: int = Field(ge=0, description="Requested files outside the requester's rights, left out; "
                                                  "their names, reasons and legal bases are not disclosed")
    repaired: bool = Field(description="A bad stored copy was met, skipped and repaired")
    download_url: str

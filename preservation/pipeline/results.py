"""What an ingest ends with: stored or rejected, or an error saying whether it can be resumed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class IngestError(RuntimeError):
    """A step failed for a reason that may pass (storage down, tool error); the workspace stays
    and ``kho resume`` continues from this step. ``resumable=False``: nothing was started (no such
    path, not a package, no room to unpack it), so there is nothing to resume either."""

    def __init__(self, message: str, *, resumable: bool = True) -> None:
        super().__init__(message)
        self.resumable = resumable


class SipRejected(Exception):
    """The SIP is not acceptable; it was moved to the failed folder with a report."""

    def __init__(self, result: IngestResult) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass
class IngestResult:
    aip_id: str
    sip_name: str
    status: str  # stored | rejected
    files: int = 0
    locations: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    failed_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "aip_id": self.aip_id,
            "status": self.status,
            "files": self.files,
            "locations": self.locations,
            "sip": self.sip_name,
        }
        if self.status == "stored":
            data["formats"] = self.formats
        else:
            data["reason"] = self.reason
            data["failed_path"] = self.failed_path
        return data


def summary_line(result: IngestResult) -> str:
    if result.status == "stored":
        formats = ", ".join(f"{k}×{v}" for k, v in sorted(result.formats.items()))
        return (
            f"{result.sip_name}: stored AIP {result.aip_id} at {', '.join(result.locations)}; "
            f"{result.files} files ({formats})"
        )
    return f"{result.sip_name}: REJECTED — {result.reason} (see {result.failed_path})"


def result_json(result: IngestResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)

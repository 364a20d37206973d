"""The result types every validator returns: statuses, ``Message``, ``ValidationResult``, and the two
helpers that build results (``status_from_messages``, ``not_validated``); the status meanings are in
``format_registry.validators``' docstring.

Why a leaf module: the validator modules (``jhove``, ``pdf``, ``xml`` ...) build these results, and the
package's ``__init__`` imports the validators to dispatch to them. With the types in ``__init__`` that
was an import cycle (issue #17); now the validators import this module, which imports nothing of
ours, and ``format_registry.validators`` re-exports every name for its callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

VALID = "valid"
WELL_FORMED = "well-formed"
INVALID = "invalid"
NOT_VALIDATED = "not-validated"
STATUSES = (VALID, WELL_FORMED, INVALID, NOT_VALIDATED)
SEVERITIES = ("error", "warning", "info")

DEFAULT_TIMEOUT = 600.0  # seconds; bounds external tools (JHOVE, ffprobe/ffmpeg)


@dataclass(frozen=True)
class Message:
    id: str | None  # JHOVE's message id (PDF-HUL-38) or ours ("pdf.header.version"); None if the tool gives none
    severity: str  # one of SEVERITIES
    text: str
    offset: int | None = None  # byte offset in the file, where the tool states one
    detail: str | None = None  # JHOVE's subMessage and similar second-level text


@dataclass(frozen=True)
class ValidationResult:
    status: str  # one of STATUSES
    validator: str  # "jhove", "pikepdf", "pillow", "jpylyzer", "lxml", "zipfile", "ffprobe", "python-codecs"
    tool_version: str
    module: str | None = None  # JHOVE module (PDF-hul) or the built-in check's profile (PDF, TIFF, OOXML ...)
    messages: tuple[Message, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def well_formed(self) -> bool | None:
        """True/False as a PREMIS-style flag; None when nothing was checked."""
        return None if self.status == NOT_VALIDATED else self.status != INVALID

    @property
    def is_valid(self) -> bool | None:
        return None if self.status == NOT_VALIDATED else self.status == VALID

    def errors(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = [asdict(m) for m in self.messages]
        return data


def status_from_messages(messages: Iterable[Message], best: str = VALID) -> str:
    """The status the messages allow: an error makes the file invalid, a warning caps it at well-formed.

    ``best`` is what the validator can vouch for when nothing is wrong ("well-formed" for checks that
    stop short of validation).
    """
    severities = {m.severity for m in messages}
    if "error" in severities:
        return INVALID
    if "warning" in severities and best == VALID:
        return WELL_FORMED
    return best


def not_validated(
    reason: str,
    *,
    validator: str = "kho",
    tool_version: str = "",
    module: str | None = None,
    message_id: str = "not-performed",
    details: Mapping[str, Any] | None = None,
) -> ValidationResult:
    """A result saying plainly that no check was done, and why."""
    return ValidationResult(
        NOT_VALIDATED, validator, tool_version, module, (Message(message_id, "info", reason),), dict(details or {})
    )

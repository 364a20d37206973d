"""What every step needs: the settings, the catalog (opened on first use), and identification kept out of
the ingest process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from format_registry import identify
from format_registry.validators import validate_file
from packages import ocfl
from preservation.config import Settings
from preservation.service import Service


class Context(Service):
    """The service (settings, catalog, storage locations; see ``preservation.service``) plus what the ingest
    steps need besides: the digests kept for every file and the validation of derivatives. While it is
    open, Siegfried identifies in a worker process of its own (``format_registry.identify.isolated``),
    started on first use and stopped by ``close``: the ingest process never holds the engine's memory."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        settings.ensure_dirs()
        self._isolation: Any = identify.isolated()
        self._isolation.__enter__()

    def close(self) -> None:
        try:
            super().close()
        finally:
            isolation, self._isolation = self._isolation, None
            if isolation is not None:
                isolation.__exit__(None, None, None)

    @property
    def digests(self) -> tuple[str, ...]:
        """The digests kept for every file: the configured ones, and always SHA-512, the digest of the
        OCFL inventory the AIP is stored with (computed in the same read as the others)."""
        return tuple(dict.fromkeys((*self.settings.digests, ocfl.DIGEST)))

    def validate_output(self, path: Path, puid: str | None, mime: str | None) -> dict[str, Any]:
        """Validation of a derivative before it is accepted."""
        result = validate_file(path, puid, mime)
        return {
            "status": result.status,
            "validator": result.validator,
            "summary": "; ".join(m.text for m in result.messages[:3]),
        }

    def __enter__(self) -> Context:
        return self

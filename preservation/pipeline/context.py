"""What every step needs: the settings, the catalog (opened on first use) and the identification engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from format_registry.identify import Identifier, shared_identifier
from packages import ocfl
from preservation.catalog import Catalog
from preservation.config import Settings


class Context:
    """What every step needs; the catalog and FIDO are loaded on first use only."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from preservation.catalog_guard import open_catalog

            self._catalog = open_catalog(self.settings)  # loud if it lost what storage holds
        return self._catalog

    @property
    def digests(self) -> tuple[str, ...]:
        """The digests kept for every file: the configured ones, and always SHA-512, the digest of the
        OCFL inventory the AIP is stored with (computed in the same read as the others)."""
        return tuple(dict.fromkeys((*self.settings.digests, ocfl.DIGEST)))

    @property
    def identifier(self) -> Identifier:
        return shared_identifier()

    def validate_output(self, path: Path, puid: str | None, mime: str | None) -> dict[str, Any]:
        """Validation of a derivative before it is accepted."""
        from format_registry.validators import validate_file

        result = validate_file(path, puid, mime)
        return {
            "status": result.status,
            "validator": result.validator,
            "summary": "; ".join(m.text for m in result.messages[:3]),
        }

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()


# -- creating workspaces --------------------------------------------------------------------------

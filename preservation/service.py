"""The service object: one installation's settings, catalog and storage locations, opened on first use
and closed together.

Why: the CLI, the API and every DAG task used to build a ``Catalog`` by hand and close it in a
``try/finally`` of their own (31 places, 14 such blocks), each choosing again whether to open it
loudly. ``with Service.open(settings) as svc`` is now the one way in: ``svc.catalog`` is opened through
``preservation.catalog_guard.open_catalog`` (refused, loudly, when it is unreadable or lost what storage
holds; its storage journal installed), ``svc.locations`` are the configured storage locations, and
leaving the block closes whatever was opened, on success or error.

Nothing is opened before it is used: ``kho policy show`` or a DAG task that fails on its parameters
costs no database connection and no storage listing.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from preservation.catalog import Catalog
from preservation.catalog_guard import open_catalog
from preservation.config import Settings, load_settings
from storage_adapters.base import StorageLocation
from storage_adapters.registry import open_location

CatalogOpener = Callable[[Settings], Catalog]


class Service:
    """One installation's catalog and storage locations, owned by a ``with`` block (see the module doc)."""

    def __init__(self, settings: Settings, *, open_with: CatalogOpener = open_catalog) -> None:
        self.settings = settings
        self._open_catalog = open_with
        self._catalog: Catalog | None = None
        self._locations: dict[str, StorageLocation] | None = None
        self._closed = False

    @classmethod
    def open(cls, settings: Settings | None = None, *, open_with: CatalogOpener = open_catalog) -> Service:
        """The service of ``settings`` (default: :func:`preservation.config.load_settings`).

        ``open_with`` opens the catalog when it is first needed: ``open_catalog`` (loud if the catalog lost
        what storage holds) unless a caller needs another rule, as the catalog rebuild does (only an empty
        catalog). Nothing is opened here."""
        return cls(settings if settings is not None else load_settings(), open_with=open_with)

    @property
    def catalog(self) -> Catalog:
        """The catalog, opened on first use; raises ``preservation.catalog_guard.CatalogProblem`` when it
        cannot be trusted (then nothing is left open)."""
        if self._closed:
            raise RuntimeError("the service is closed: open another one")
        if self._catalog is None:
            self._catalog = self._open_catalog(self.settings)
        return self._catalog

    @property
    def locations(self) -> dict[str, StorageLocation]:
        """The configured storage locations by URL, in ``KHO_STORAGE`` order (opening one reads no object;
        an unsupported URL raises ``storage_adapters.base.StorageError``)."""
        if self._closed:
            raise RuntimeError("the service is closed: open another one")
        if self._locations is None:
            self._locations = {url: open_location(url) for url in self.settings.storage}
        return self._locations

    def close(self) -> None:
        """Close what was opened (the catalog's connections); safe to call twice."""
        self._closed = True
        catalog, self._catalog, self._locations = self._catalog, None, None
        if catalog is not None:
            catalog.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

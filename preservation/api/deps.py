"""What a route needs from the application, as FastAPI dependencies.

``create_app`` puts the installation's ``Service`` (and its settings and opened catalog) on ``app.state``; a
route asks for them with these annotations instead of closing over local variables of ``create_app``, so the
routes can live in modules of their own and a test can see exactly what each one uses.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from preservation.catalog import Catalog
from preservation.config import Settings
from preservation.service import Service


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_catalog(request: Request) -> Catalog:
    """``app.state.catalog``, opened by ``create_app`` (a test may replace its methods there)."""
    catalog: Catalog = request.app.state.catalog
    return catalog


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

"""preservation.service: the catalog and storage of one installation, opened on first use (loudly when the
catalog lost what storage holds) and closed on leaving the block, whatever happened in it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from format_registry import settings as registry_settings
from preservation.catalog import Catalog
from preservation.catalog_guard import CatalogProblem
from preservation.config import Settings, load_settings
from preservation.service import Service
from storage_adapters.local import LocalStorage


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    before = registry_settings.configure(None)
    yield load_settings({"KHO_HOME": str(tmp_path / "home")})
    registry_settings.configure(before)


def _database(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def test_nothing_is_opened_before_it_is_used(settings: Settings) -> None:
    with Service.open(settings) as service:
        assert service.settings is settings
    assert not _database(settings).exists(), "a service nobody asked the catalog of creates no database"

    with Service.open(settings) as service:
        locations = service.locations
        assert list(locations) == list(settings.storage)
        assert isinstance(locations[settings.storage[0]], LocalStorage)
        assert not _database(settings).exists()
        assert service.catalog is service.catalog, "opened once"
        assert service.catalog.list_aips() == []
    assert _database(settings).exists()


def test_leaving_the_block_closes_the_catalog_even_on_error(settings: Settings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    real_close = Catalog.close

    def close(catalog: Catalog) -> None:
        closed.append(catalog.url)
        real_close(catalog)

    monkeypatch.setattr(Catalog, "close", close)
    with pytest.raises(ZeroDivisionError), Service.open(settings) as service:
        assert service.catalog.list_aips() == []
        _ = 1 / 0
    assert closed == [settings.database_url]
    with pytest.raises(RuntimeError, match="closed"):
        _ = service.catalog
    service.close()
    assert closed == [settings.database_url], "closing twice closes nothing twice"


def test_a_catalog_that_lost_what_storage_holds_is_refused_loudly(settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    aip_id = str(uuid.uuid4())
    mets = settings.home / "METS.xml"
    mets.parent.mkdir(parents=True)
    mets.write_bytes(b"<mets/>")
    LocalStorage.from_url(settings.storage[0]).put(f"{aip_id}/METS.xml", mets)  # an AIP; the catalog: empty
    opened: list[Catalog] = []
    closed: list[Catalog] = []
    real_init, real_close = Catalog.__init__, Catalog.close

    def init(catalog: Catalog, url: str) -> None:
        real_init(catalog, url)
        opened.append(catalog)

    def close(catalog: Catalog) -> None:
        closed.append(catalog)
        real_close(catalog)

    monkeypatch.setattr(Catalog, "__init__", init)
    monkeypatch.setattr(Catalog, "close", close)
    with Service.open(settings) as service:
        with pytest.raises(CatalogProblem) as problem:
            _ = service.catalog
        assert f"AIP {aip_id}" in str(problem.value) and "kho catalog rebuild" in str(problem.value)
        assert "danh mục" in str(problem.value)
        with pytest.raises(CatalogProblem):  # asked again, refused again: never an empty catalog handed out
            _ = service.catalog
    assert len(opened) == 2 and closed == opened, "each refused catalog was closed at once"


def test_another_rule_for_opening_the_catalog(settings: Settings) -> None:
    """The catalog rebuild opens only an empty catalog; the service owns it all the same."""
    seen: list[Settings] = []

    def open_plain(given: Settings) -> Catalog:
        seen.append(given)
        return Catalog(given.database_url)

    with Service.open(settings, open_with=open_plain) as service:
        assert service.catalog.list_aips() == [] and seen == [settings]


def test_settings_default_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHO_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("KHO_ORGANIZATION", "Lưu trữ lịch sử")
    with Service.open() as service:
        assert service.settings.home == (tmp_path / "env-home").resolve()
        assert service.settings.organization == "Lưu trữ lịch sử"
    registry_settings.configure(None)

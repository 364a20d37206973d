"""The one way Kho parses XML it did not write: no entity expansion, no DTD, no network.

Every XML document Kho reads may come from outside the archive: a producer's METS or EAD, a SIARD
archive's metadata, a file being validated, a tool's report. lxml's defaults resolve internal entities
and read DTDs; an external entity (XXE) could name a local file or a URL, and nested entities (the
"billion laughs") expand a few hundred bytes into gigabytes. This factory locks every one of those
down, so a hostile document is parsed (or refused) but never executed. lxml still applies libxml2's
own size and depth limits unless ``huge=True`` (no caller needs it today).

Why here: ``format_registry`` is the lowest layer that parses XML and one that ``packages`` and
``preservation`` may import (DESIGN.md, Layout), so all of them share this module instead of each
spelling out its own ``etree.XMLParser(...)``. ``tests/integration/test_safexml.py`` proves the refusals.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import IO, Any

from lxml import etree

Source = str | os.PathLike[str] | IO[bytes]


def parser(*, huge: bool = False, recover: bool = False, remove_comments: bool = False,
           remove_pis: bool = False) -> etree.XMLParser:
    """A new locked-down parser (lxml parsers are not safe to share between threads, so never cached).

    ``huge`` lifts libxml2's size/depth limits (``huge_tree``); ``recover`` keeps going after
    well-formedness errors; ``remove_comments`` / ``remove_pis`` drop those nodes from the tree.
    Entity resolution, DTD loading and validation, and network access are always off."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        recover=recover,
        remove_comments=remove_comments,
        remove_pis=remove_pis,
    )


def parse(source: Source, xml_parser: etree.XMLParser | None = None) -> etree._ElementTree:
    """Parse a file (path or binary handle) with :func:`parser`'s defaults, or the safe parser given.

    Raises ``etree.XMLSyntaxError`` when the document is not well-formed."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:  # a handle, not a name: lxml would also accept a URL
            return etree.parse(handle, xml_parser or parser())
    return etree.parse(source, xml_parser or parser())


def fromstring(data: bytes, xml_parser: etree.XMLParser | None = None) -> Any:
    """The root element of ``data`` (``etree.fromstring`` with a safe parser); ``XMLSyntaxError`` if broken."""
    return etree.fromstring(data, xml_parser or parser())


def schema(path: str | os.PathLike[str]) -> etree.XMLSchema:
    """A compiled XML Schema that Kho holds (``schemas/``, a schema catalog), read with :func:`parser`.

    Parsed by name, not from a handle, so that the schema's relative ``xs:import``/``xs:include``
    resolve beside it. Raises ``etree.XMLSchemaParseError``, ``etree.XMLSyntaxError`` or ``OSError``."""
    return etree.XMLSchema(etree.parse(os.fspath(path), parser()))


def iterparse(source: IO[bytes], events: Sequence[str] = ("end",)) -> Iterator[tuple[str, Any]]:
    """``etree.iterparse`` with the same locks as :func:`parser`, for reading only the start of a document."""
    return iter(etree.iterparse(source, events=tuple(events), resolve_entities=False, no_network=True,
                                load_dtd=False, dtd_validation=False, huge_tree=False))

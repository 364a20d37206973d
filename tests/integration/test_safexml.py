"""format_registry.safexml, the one parser factory for XML from outside the archive: an external entity
is never read, entities never expand, and nothing reaches the network, whichever entry point is used."""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from format_registry import safexml

SECRET = "kho-secret-3f9a"
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "hahahahahahahahahahaha">'
          + b"".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10 if i else "&a;" * 10}">'.encode() for i in range(9))
          + b"]>\n<r><t>&a8;</t></r>\n")


@pytest.fixture
def listener() -> Iterator[tuple[int, Callable[[], bool]]]:
    """A TCP port on this host and a probe that says whether anything connected to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)

    def contacted() -> bool:
        try:
            connection, _ = server.accept()
        except TimeoutError:
            return False
        connection.close()
        return True

    yield server.getsockname()[1], contacted
    server.close()


def _parsers() -> list[Callable[[bytes], Any]]:
    """Every entry point, each reduced to bytes -> root element."""
    def by_parse(data: bytes) -> Any:
        return safexml.parse(io.BytesIO(data)).getroot()

    def by_iterparse(data: bytes) -> Any:
        root = None
        for _, element in safexml.iterparse(io.BytesIO(data), events=("end",)):
            root = element
        return root

    def by_own_parser(data: bytes) -> Any:
        return etree.fromstring(data, safexml.parser(remove_comments=True, remove_pis=True))

    return [safexml.fromstring, by_parse, by_iterparse, by_own_parser]


@pytest.mark.parametrize("parse", _parsers())
def test_an_external_entity_is_never_read(parse: Callable[[bytes], Any], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "{secret.as_uri()}">]>\n'
           "<r><t>&x;</t></r>").encode()
    root = parse(xxe)
    assert SECRET not in etree.tostring(root).decode()
    assert SECRET not in "".join(root.itertext())


@pytest.mark.parametrize("parse", _parsers())
def test_nested_entities_never_expand(parse: Callable[[bytes], Any]) -> None:
    try:
        root = parse(LAUGHS)
    except etree.XMLSyntaxError:
        return  # libxml2's amplification limit refused it: as good
    assert len("".join(root.itertext())) < 1000  # 10**9 characters if the entities had expanded


@pytest.mark.parametrize("parse", _parsers())
def test_the_network_is_never_touched(parse: Callable[[bytes], Any],
                                      listener: tuple[int, Callable[[], bool]]) -> None:
    port, contacted = listener
    url = f"http://127.0.0.1:{port}"
    probes = [
        f'<!DOCTYPE r SYSTEM "{url}/external.dtd"><r/>',
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "{url}/entity">]><r>&x;</r>',
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}/parameter"> %p;]><r/>',
        f'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{url}/xinclude"/></r>',
    ]
    for probe in probes:
        with contextlib.suppress(etree.XMLSyntaxError):  # refusing the document is fine; fetching anything is not
            parse(probe.encode())
        assert not contacted(), probe


def test_parse_reads_a_path_and_keeps_the_options(tmp_path: Path) -> None:
    path = tmp_path / "doc.xml"
    path.write_bytes(b"<?xml version='1.0'?><r><!-- note --><?pi x?><t>ok</t></r>")
    assert safexml.parse(path).getroot().findtext("t") == "ok"
    assert safexml.parse(str(path)).getroot().findtext("t") == "ok"
    stripped = safexml.parse(path, safexml.parser(remove_comments=True, remove_pis=True)).getroot()
    assert [child.tag for child in stripped] == ["t"]
    kept = safexml.parse(path).getroot()
    assert len(kept) == 3  # comment and processing instruction stay unless asked otherwise


def test_each_call_builds_a_new_parser() -> None:
    """lxml parsers are not thread-safe: one shared parser would be a race between validator threads."""
    assert safexml.parser() is not safexml.parser()

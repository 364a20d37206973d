"""preservation/cli: what moving ``kho`` from argparse to Typer must not change — usage errors exit 2 with
the usage, a broken configuration exits 2 but only once the command line parsed (``-h`` needs none), and
``--files A B`` still gives several files after one flag, as README documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preservation import cli


@pytest.mark.parametrize(("args", "expected"), [
    (["dip", "AIP", "--files", "a", "b", "--requester", "x"],
     ["dip", "AIP", "--files", "a", "--files", "b", "--requester", "x"]),
    (["-v", "dip", "--files", "a", "AIP"], ["-v", "dip", "--files", "a", "--files", "AIP"]),  # greedy, as argparse
    (["dip", "AIP", "--files", "--json"], ["dip", "AIP", "--json"]),  # no value: every file
    (["dip", "AIP", "--files", "-1", "--", "--files"], ["dip", "AIP", "--files", "-1", "--", "--files"]),
    (["dip", "AIP", "--files=a b"], ["dip", "AIP", "--files=a b"]),
    (["ingest", "--files", "a", "b"], ["ingest", "--files", "a", "b"]),  # only the commands that have it
    ([], []),
])
def test_many_valued_options_are_spread(args: list[str], expected: list[str]) -> None:
    assert cli.spread_many(args) == expected


@pytest.mark.parametrize(("args", "usage", "error"), [
    ([], "Usage: kho [OPTIONS] COMMAND", "Missing command"),
    (["sip"], "Usage: kho sip [OPTIONS] COMMAND", "Missing command"),
    (["sip", "validate"], "Usage: kho sip validate", "Missing argument 'PATH'"),
    (["ingest", "x", "--bogus"], "Usage: kho ingest", "No such option: --bogus"),
    (["ingest", "x", "--profile", "eark"], "Usage: kho ingest", "Invalid value for '--profile'"),
    (["dip", "AIP"], "Usage: kho dip", "Missing option '--requester'"),
    (["fixity", "--max-aips", "many"], "Usage: kho fixity", "Invalid value for '--max-aips'"),
    (["nosuch"], "Usage: kho [OPTIONS] COMMAND", "No such command 'nosuch'"),
])
def test_usage_errors_exit_2_with_the_usage(args: list[str], usage: str, error: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(args) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(usage) and error in captured.err
    assert "\x1b" not in captured.err and "╭" not in captured.err  # plain text: it ends up in logs


def test_help_needs_no_configuration_and_a_bad_one_exits_2_after_parsing(
        kho_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KHO_DIGESTS", "md4")
    assert cli.main(["-h"]) == cli.EXIT_OK
    assert "Usage: kho [OPTIONS] COMMAND" in capsys.readouterr().out
    assert cli.main(["policy", "check", "-h"]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["ingest"]) == cli.EXIT_USAGE
    assert "Missing argument 'PATH'" in capsys.readouterr().err  # the usage error, not the configuration's
    assert cli.main(["policy", "check"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("kho: configuration error:")


def test_dip_files_several_after_one_flag_reach_the_builder(
        kho_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from preservation import dip

    asked: dict[str, Any] = {}

    def build_dip(catalog: Any, aip_id: str, **options: Any) -> Any:
        asked.update(options, aip_id=aip_id)
        raise dip.DipError("not in AIP")

    monkeypatch.setattr(dip, "build_dip", build_dip)
    code = cli.main(["dip", "A-1", "--files", "data/a.pdf", "data/ảnh b.jpg", "--requester", "Mai", "--role",
                     "archivist"])
    assert code == cli.EXIT_REJECTED
    assert capsys.readouterr().err == "kho dip: not in AIP\n"
    assert asked["aip_id"] == "A-1" and asked["files"] == ["data/a.pdf", "data/ảnh b.jpg"]
    assert asked["role"] == "archivist" and asked["requester"] == "Mai" and asked["purpose"] == "01"
    assert cli.main(["dip", "A-1", "--requester", "Mai", "--files"]) == cli.EXIT_REJECTED
    assert asked["files"] is None  # no value: every file

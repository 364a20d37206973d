"""The fuzz targets of tests/fuzz (docs/decisions/0012-fuzzing.md).

(a) Every target's seed corpus, its regression inputs and a few hundred deterministic mutations, in-process
    and without atheris (fast, the same inputs each run): an exception the parser does not document fails,
    unless it is a known bug (tests/fuzz/known_bugs.py) with its strict-xfail test below.
(b) Each target under atheris (coverage-guided) for a few seconds, in a subprocess; skipped when atheris
    is not installed.
(c) One test per bug fuzzing found, with its minimal reproducer: strict-xfail while the bug is known
    (tests/fuzz/known_bugs.py KNOWN_BUGS), a plain regression test once it is fixed (FIXED_BUGS).
"""

from __future__ import annotations

import importlib.util
import json
import lzma
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from packages import bagit_reader, eark, sip, tt05
from tests.fuzz import known_bugs, reproducers, targets
from tests.fuzz.mutate import load_dictionary, mutations

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "tests" / "fuzz"
MUTANTS = 300  # per target
SMOKE_SECONDS = 3
ZIP_LIBRARY_ERRORS = (zlib.error, lzma.LZMAError, UnicodeDecodeError, IndexError, EOFError)


@pytest.fixture(autouse=True)
def _scratch(tmp_path: Path) -> Iterator[None]:
    targets.set_scratch_root(tmp_path / "scratch")
    yield
    targets.set_scratch_root(None)


def _inputs(name: str) -> list[bytes]:
    found = []
    for folder in (FUZZ / "corpus" / name, FUZZ / "regressions" / name):
        if folder.is_dir():
            found += [path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()]
    return found


# ----------------------------------------------------------------------------------------- (a)

@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_replay_corpus_and_mutations(name: str) -> None:
    target = targets.TARGETS[name]
    seeds = _inputs(name)
    assert seeds, f"no seed corpus for {name}: python -m tests.fuzz.make_corpus"
    tokens = load_dictionary(FUZZ / "dicts" / f"{name}.dict")
    crashes: dict[str, tuple[bytes, BaseException]] = {}
    known: Counter[str] = Counter()
    for data in [*seeds, *mutations(seeds, MUTANTS, name, tokens)]:
        try:
            target.run(data)
        except Exception as exc:
            bug = known_bugs.match(exc)
            if bug is not None:
                known[bug.name] += 1
            else:
                crashes.setdefault(known_bugs.signature(exc), (data, exc))
    assert not crashes, "\n".join(
        f"{signature}: {exc!r}\n  input: {data[:300]!r}" for signature, (data, exc) in crashes.items()
    )


def test_seeds_reach_the_deep_checks(tmp_path: Path) -> None:
    """The seeds are worth mutating only if they get past the first refusal."""
    bag = tmp_path / "bag"
    for name, content in targets.named_sections((FUZZ / "corpus" / "sip" / "tt05-xml").read_bytes()):
        targets.write_file(bag, name, content)
    report = sip.validate_sip(bag)
    assert report.valid, report.reason()
    assert report.tt05 is not None
    package = tmp_path / "pkg"
    for relpath, content in targets.EARK_FILES.items():
        targets.write_file(package, relpath.encode(), content)
    parts = targets.sections((FUZZ / "corpus" / "eark_mets" / "csip-with-rep").read_bytes())
    (package / "METS.xml").write_bytes(parts[0])
    (package / "representations" / "rep1" / "METS.xml").write_bytes(parts[1])
    checked = eark.validate_eark(package, now=targets.NOW)
    assert checked.valid, checked.reason()
    assert eark.is_eark_package(package)


# ----------------------------------------------------------------------------------------- (b)

@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (pip install atheris; it is in the dev extra): "
                           "the coverage-guided smoke runs are skipped, the in-process replay above still ran")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_atheris_smoke(name: str, tmp_path: Path) -> None:
    work, crashes = tmp_path / "work", tmp_path / "crashes"
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz", name, "--seconds", str(SMOKE_SECONDS), "--seed", "1",
         "--work-dir", str(work), "--crash-dir", str(crashes)],
        cwd=ROOT, capture_output=True, text=True, timeout=80, check=False,
    )
    log = (work / f"{name}.log").read_text("utf-8", "replace") if (work / f"{name}.log").exists() else ""
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{log[-4000:]}"
    [summary] = json.loads((work / "last-run.json").read_text("utf-8"))
    assert summary["executions"] > 0 and summary["coverage"] > 0, summary
    assert not list(crashes.iterdir())


# ----------------------------------------------------------------------------------------- (c) known bugs

def test_known_bugs_have_reproducers() -> None:
    names = {name.split("-")[0] for inputs in reproducers.REGRESSIONS.values() for name in inputs}
    assert names == {bug.name for bug in (*known_bugs.KNOWN_BUGS, *known_bugs.FIXED_BUGS)}


def _bag(root: Path, files: dict[str, bytes]) -> Path:
    for relpath, content in files.items():
        targets.write_file(root, relpath.encode(), content)
    return root


@pytest.mark.parametrize("encoding", ["UTF-16", "undefined"])
def test_known_tag_file_unicode_error(encoding: str, tmp_path: Path) -> None:
    bag = _bag(tmp_path / "bag", {"bagit.txt": reproducers.bagit_txt(encoding), "manifest-sha256.txt": b"ab",
                                  "bag-info.txt": b"A: b\n", "data/a.txt": b""})
    report = sip.validate_sip(bag)
    assert not report.valid
    assert {p.code for p in report.problems} & {"manifest-encoding", "bag-info-encoding", "bagit-txt"}


def test_known_bagit_version_digits(tmp_path: Path) -> None:
    (tmp_path / "bagit.txt").write_bytes(reproducers.bagit_txt(version="1" * 5000 + ".0"))
    with pytest.raises(bagit_reader.TagFileError):
        bagit_reader.read_declaration(tmp_path / "bagit.txt", 1024 * 1024)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-14:00"])
def test_known_mets_datetime_overflow(value: str, tmp_path: Path) -> None:
    (tmp_path / "METS.xml").write_bytes(reproducers.mets_createdate(value))
    report = eark.validate_eark(tmp_path, now=targets.NOW)
    assert "CSIP7" in report.failed_requirements()


@pytest.mark.parametrize("size", ["\u00b2", "9" * 5000])
def test_known_mets_size_not_int(size: str, tmp_path: Path) -> None:
    (tmp_path / "METS.xml").write_bytes(reproducers.mets_file_size(size))
    report = eark.validate_eark(tmp_path, now=targets.NOW)
    assert "CSIP69" in report.failed_requirements()


def test_known_ead_doc_name_digits(tmp_path: Path) -> None:
    bag = _bag(tmp_path / "bag", {"metadata/EAD_doc/\u00b2": b"<simpledc/>"})
    meta, findings = tt05.check_bag(bag, set())
    assert meta is not None and findings.problems


@pytest.mark.parametrize("rules", [reproducers.ACCESS_RULES_LONE_CR, reproducers.ACCESS_RULES_HUGE_FIELD],
                         ids=["lone-cr", "huge-field"])
def test_known_access_rules_csv_error(rules: bytes, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    for relpath, content in targets.named_sections(reproducers.access_rules_bag(rules)):
        targets.write_file(bag, relpath, content)
    report = sip.validate_sip(bag)
    assert not report.valid and report.problems  # a CR ends a row (RFC 4180); a field over 128 KiB is refused
    assert all(p.code == "metadata-invalid" and "access-rules.csv line" in p.detail for p in report.problems)


@pytest.mark.parametrize("build", [reproducers.zip_corrupt_deflate, reproducers.zip_corrupt_lzma,
                                   reproducers.zip_bad_utf8_name, reproducers.zip_empty_name],
                         ids=["deflate", "lzma", "utf8-name", "empty-name"])
def test_known_unpack_zip_library_errors(build: Callable[[], bytes], tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    archive.write_bytes(build())
    (tmp_path / "out").mkdir()
    report = eark.unpack_package(archive, tmp_path / "out" / "pkg", max_bytes=64 * 1024)
    assert "KHO-ZIP" in report.failed_requirements()
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("build", [reproducers.zip_unsafe_and_corrupt_mets, reproducers.zip_bad_utf8_name],
                         ids=["deflate", "utf8-name"])
def test_known_is_eark_package_zip_errors(build: Callable[[], bytes], tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    archive.write_bytes(build())
    assert eark.is_eark_package(archive) is False

"""Shared test fixtures: an isolated KHO_HOME per test, the sample SIPs, the public corpora,
and one Airflow metadata database for the whole session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from format_registry.policy import DEFAULT_POLICY
from preservation.config import Settings, load_settings
from tests.ceph_rgw import RgwCluster, ceph_unavailable
from tests.s3_server import MotoServer, S3Server

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_SIPS = ROOT / "fixtures" / "sips"


def _find_corpora() -> Path:
    """The shared test corpora of real files (formats, JHOVE reports, the E-ARK sample): $KHO_TEST_CORPORA, else
    ../shared/corpora beside the checkout, else /work/shared. The schemas the tests validate against are not
    among them: they are in the repo (``tests.helpers.mets_schema``, ``schemas/standards``)."""
    candidates = [os.environ.get("KHO_TEST_CORPORA", ""), str(ROOT.parent / "shared" / "corpora"),
                  "/work/shared/corpora"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "formats").is_dir():
            return Path(candidate)
    return ROOT.parent / "shared" / "corpora"


CORPORA = _find_corpora()
BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _process_tempdir(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Kho context makes ``$KHO_HOME/tmp`` the process's temporary folder (``Settings.adopt_scratch_dir``);
    each test gets the one it started with back, so no test writes into another test's KHO_HOME."""
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    if "TMPDIR" in os.environ:
        monkeypatch.setenv("TMPDIR", os.environ["TMPDIR"])
    else:
        monkeypatch.delenv("TMPDIR", raising=False)


@pytest.fixture
def kho_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh KHO_HOME. When the test ends, every OCFL storage root it left under its temporary folder is
    checked by the independent validator (ocfl-py): whatever a test did, storage must still be valid OCFL,
    unless the test is marked ``storage_left_damaged`` (it damages storage on purpose and leaves it so)."""
    home = tmp_path / "kho-home"
    monkeypatch.setenv("KHO_HOME", str(home))
    for name in ("KHO_STORAGE", "KHO_DATABASE_URL", "KHO_INGEST_DIR", "KHO_DUPLICATES", "KHO_DIGESTS", "KHO_FAULT",
                 "KHO_TSA_URL", "KHO_TRUST_ANCHORS", "KHO_SIGNING_KEY", "KHO_SIGNING_KEY_PASSWORD",
                 "KHO_REVOCATION_FETCH", "KHO_SIGNATURE_POLICY"):  # a developer's shell must not change a test
        monkeypatch.delenv(name, raising=False)
    yield home
    if request.node.get_closest_marker("storage_left_damaged") is None:
        # checked all at once when the session ends (pytest_sessionfinish): one run of the validator
        LEFT_OCFL_ROOTS.extend((request.node.nodeid, d.parent) for d in sorted(tmp_path.rglob("0=ocfl_1.1")))


LEFT_OCFL_ROOTS: list[tuple[str, Path]] = []  # (test, storage root it left), for the check at the end


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every OCFL storage root a test left (``kho_home`` tests) must be valid by ocfl-py's validator, in one
    run of it; an invalid one fails the session, naming the tests that left it. A root gone by now (a
    tmpfs the test unmounted) was checked by that test itself."""
    if not LEFT_OCFL_ROOTS:
        return
    from tests.reference.ocfl import validate_many

    ok, output, bad = validate_many([root for _test, root in LEFT_OCFL_ROOTS])
    if ok:
        return
    culprits = sorted({test for test, root in LEFT_OCFL_ROOTS if not bad or any(b.startswith(str(root)) for b in bad)})
    message = ("OCFL storage left invalid (ocfl-validate.py) by: " + ", ".join(culprits) + "\n" + output[-8000:])
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(message, red=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def settings(kho_home: Path) -> Settings:
    return load_settings()


@pytest.fixture
def sample_sip(tmp_path: Path) -> Path:
    """A private copy of the valid Vietnamese dossier, safe to modify."""
    target = tmp_path / "sips" / "hoso-2024-ubnd-01"
    shutil.copytree(FIXTURE_SIPS / "hoso-2024-ubnd-01", target)
    return target


@pytest.fixture
def png_to_tiff_policy(tmp_path: Path) -> dict[str, str]:
    """``KHO_POLICY`` for a policy that now also keeps PNG as TIFF: what a migration campaign acts on."""
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    png = next(e for e in data["formats"] if e["id"] == "png")
    png["preservation"] = {"action": "normalise", "target": "TIFF", "tool": "pillow-tiff"}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return {"KHO_POLICY": str(path)}


def run_kho(*args: str, env: dict[str, str] | None = None, check: bool = False,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [str(BIN / "kho"), *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(f"kho {' '.join(args)} exited {completed.returncode}: {completed.stderr}")
    return completed


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated Airflow SQLite database shared by every DAG test of the session."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    yield env


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One real S3-compatible HTTP server (moto, separate process) for the whole session."""
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def rgw_server() -> Iterator[RgwCluster]:
    """Ceph RADOS Gateway on a throw-away one-node cluster (tests/ceph_rgw.py), started once per session
    with the same dummy credentials as ``aws_env``. Skipped when Ceph is not installed, or with KHO_SKIP_RGW=1."""
    reason = ceph_unavailable()
    if reason:
        pytest.skip(reason)
    if os.environ.get("KHO_SKIP_RGW", "") not in ("", "0"):
        pytest.skip("KHO_SKIP_RGW is set")
    with RgwCluster(access_key="testing", secret_key="testing") as cluster:
        yield cluster


@pytest.fixture(scope="session", params=["moto", "rgw"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 test runs against moto and against Ceph RGW (ids ``moto``/``rgw``); ``.name`` tells which."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials, and nothing from the developer's own AWS configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)

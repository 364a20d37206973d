"""The single-machine Airflow path as a new user takes it: `make airflow-standalone`'s program
(API server, scheduler with the LocalExecutor, DAG processor; not `airflow dags test`), a bag dropped
into the watched folder, and the UI's REST API read as the browser reads it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from preservation.deploy import PASSWORDS_FILE, free_port
from tests.conftest import BIN, FIXTURE_SIPS, ROOT, json_lines, run_kho

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

READY_TIMEOUT = 300
INGEST_TIMEOUT = 420


def _drop(sip: Path, ingest_dir: Path) -> None:
    """Copy beside the ingest folder, then rename in: what lands in the folder is complete."""
    staging = ingest_dir.parent / f".drop-{sip.name}"
    shutil.copytree(sip, staging)
    os.rename(staging, ingest_dir / sip.name)


class Standalone:
    def __init__(self, airflow_home: Path, kho_home: Path, port: int) -> None:
        self.airflow_home, self.kho_home, self.port = airflow_home, kho_home, port
        self.url = f"http://127.0.0.1:{port}"
        self.output = airflow_home.parent / "standalone.out"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KHO_"))},
            "AIRFLOW_HOME": str(airflow_home),
            "KHO_HOME": str(kho_home),
            "KHO_SETTLE_SECONDS": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.components: list[psutil.Process] = []

    def start(self) -> None:
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [str(BIN / "python"), "-m", "preservation.deploy.standalone", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            text = self.text()
            if "is ready" in text:
                self.components = psutil.Process(self.process.pid).children(recursive=True)
                return
            assert self.process.poll() is None, f"standalone exited:\n{text[-5000:]}"
            time.sleep(1)
        raise AssertionError(f"not ready within {READY_TIMEOUT} s:\n{self.text()[-5000:]}")

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        for component in self.components:  # nothing it started may outlive it
            if component.is_running() and component.status() != psutil.STATUS_ZOMBIE:
                component.kill()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    root = tmp_path_factory.mktemp("standalone")
    running = Standalone(root / "airflow", root / "kho", free_port())
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _token(standalone: Standalone) -> str:
    password = json.loads((standalone.airflow_home / PASSWORDS_FILE).read_text())["admin"]
    response = httpx.post(f"{standalone.url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def test_the_banner_tells_how_to_log_in_and_everything_listens_on_loopback(standalone: Standalone) -> None:
    text = standalone.text()
    password = json.loads((standalone.airflow_home / PASSWORDS_FILE).read_text())["admin"]
    assert password in text and str(standalone.kho_home / "ingest") in text
    assert (standalone.kho_home / "ingest").is_dir(), "the ingest folder exists before anyone creates it"
    secrets = standalone.airflow_home / "secrets.env"
    assert secrets.stat().st_mode & 0o077 == 0, "secrets are readable by their owner only"
    assert "AIRFLOW__API_AUTH__JWT_SECRET=" in secrets.read_text()
    listening = [
        conn.laddr
        for proc in standalone.components if proc.is_running()
        for conn in proc.net_connections(kind="inet") if conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "the API server listens"
    assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening
    names = " ".join(" ".join(p.cmdline()) for p in standalone.components if p.is_running()).replace("_", "-")
    for component in ("api-server", "scheduler", "dag-processor"):
        assert component in names


def test_a_dropped_bag_is_stored_and_a_broken_one_fails_with_its_reason_in_the_task_log(
    standalone: Standalone,
) -> None:
    ingest_dir = standalone.kho_home / "ingest"
    _drop(FIXTURE_SIPS / "hoso-2024-ubnd-01", ingest_dir)
    _drop(FIXTURE_SIPS / "bad-checksum", ingest_dir)
    env = {"KHO_HOME": str(standalone.kho_home)}
    reason_file = standalone.kho_home / "failed" / "bad-checksum" / "REASON.txt"
    deadline = time.monotonic() + INGEST_TIMEOUT
    aips: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        aips = json_lines(run_kho("aip", "list", "--json", env=env, check=True).stdout)
        if aips and reason_file.is_file():
            break
        time.sleep(3)
    assert len(aips) == 1 and aips[0]["files"] == 6, (aips, standalone.text()[-3000:])
    assert reason_file.is_file()
    assert not any(ingest_dir.iterdir()), "both SIPs were claimed out of the ingest folder"
    assert run_kho("events", "verify", env=env).returncode == 0

    # what an officer sees in the UI: the failed run, and the reason in its failed task's log
    headers = {"Authorization": f"Bearer {_token(standalone)}", "Accept": "application/json"}
    with httpx.Client(base_url=f"{standalone.url}/api/v2", headers=headers, timeout=30) as api:
        runs = api.get("/dags/ingest/dagRuns", params={"state": "failed"}).json()["dag_runs"]
        assert len(runs) == 1
        run_id = runs[0]["dag_run_id"]
        tasks = api.get(f"/dags/ingest/dagRuns/{run_id}/taskInstances").json()["task_instances"]
        failed = [t for t in tasks if t["state"] == "failed"]
        assert [t["task_id"] for t in failed] == ["validate_sip"]
        log = api.get(f"/dags/ingest/dagRuns/{run_id}/taskInstances/validate_sip/logs/{failed[0]['try_number']}")
        assert log.status_code == 200
        reason = reason_file.read_text(encoding="utf-8").strip()
        assert "checksum" in reason
        assert reason.split(" / ")[0][:60] in json.dumps(log.json(), ensure_ascii=False)
        assert "REJECTED: SIP 'bad-checksum'" in json.dumps(log.json(), ensure_ascii=False)
        stored = api.get("/dags/ingest/dagRuns", params={"state": "success"}).json()["dag_runs"]
        assert len(stored) == 1
        # each step's task log has its line with the numbers an officer needs
        run_id, aip_id, storage = stored[0]["dag_run_id"], aips[0]["aip_id"], (standalone.kho_home / "storage")
        lines = {
            step: json.dumps(api.get(f"/dags/ingest/dagRuns/{run_id}/taskInstances/{step}/logs/1").json(),
                             ensure_ascii=False)
            for step in ("validate_sip", "identify", "store", "index")
        }
        assert f"AIP {aip_id} validate_sip: " in lines["validate_sip"] and "6 files" in lines["validate_sip"]
        assert f"AIP {aip_id} identify: " in lines["identify"] and "fmt/" in lines["identify"]
        assert f"AIP {aip_id} store: " in lines["store"] and storage.as_uri() in lines["store"]
        assert f"AIP {aip_id} index: " in lines["index"]
        scans = api.get("/dags/ingest_scan/dagRuns").json()["dag_runs"]
        assert scans and all(r["state"] in ("success", "running", "queued") for r in scans), scans


DIGITISE_TIMEOUT = 600


@pytest.mark.timeout(DIGITISE_TIMEOUT + 120)
def test_the_digitisation_dag_under_the_scheduler_stores_the_scans_as_an_aip_with_a_text_layer(
    standalone: Standalone,
) -> None:
    """``digitisation`` triggered as an officer does it (REST API, conf with the folders), on one one-page
    document of ``fixtures/scans``: checked, OCR'd in its mapped task, bagged, then ``start_ingest`` triggers
    ``ingest``, and the AIP is stored and catalogued with the Vietnamese text layer in its PDF/A."""
    from tests.integration.test_digitise import SAMPLE_SCANS, needs_ocr, pdf_text
    from tests.stored import stored_files

    if needs_ocr.args[0]:
        pytest.skip(needs_ocr.kwargs["reason"])
    work = standalone.kho_home.parent / "digitise"
    shutil.copytree(SAMPLE_SCANS / "cv-22", work / "scans" / "cv-22")
    sample = json.loads((SAMPLE_SCANS / "hoso.json").read_text(encoding="utf-8"))
    chosen = [d for d in sample["documents"] if d["file"] == "cv-22"]
    metadata = {"hoso": {**sample["hoso"], "totalDoc": "1"}, "documents": chosen}
    (work / "hoso.json").write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
    conf = {"scans_dir": str(work / "scans"), "metadata": str(work / "hoso.json"), "sip_dir": str(work / "sip")}
    env = {"KHO_HOME": str(standalone.kho_home)}
    before = {a["aip_id"] for a in json_lines(run_kho("aip", "list", "--json", env=env, check=True).stdout)}

    headers = {"Authorization": f"Bearer {_token(standalone)}", "Accept": "application/json"}
    deadline = time.monotonic() + DIGITISE_TIMEOUT
    with httpx.Client(base_url=f"{standalone.url}/api/v2", headers=headers, timeout=30) as api:
        run_id = ""
        while not run_id:
            # 404: the DAG processor has not parsed the file yet; 5xx: SQLite busy while the scheduler and the
            # DAG processor start (a run made before the error is adopted, never triggered twice)
            started = api.post("/dags/digitisation/dagRuns", json={"logical_date": None, "conf": conf})
            if started.status_code == 200:
                run_id = started.json()["dag_run_id"]
                break
            assert started.status_code == 404 or started.status_code >= 500, started.text
            assert time.monotonic() < deadline, started.text
            time.sleep(3)
            listed = api.get("/dags/digitisation/dagRuns")
            if listed.status_code == 200 and listed.json()["dag_runs"]:
                run_id = listed.json()["dag_runs"][0]["dag_run_id"]
        state, new = "", []
        while time.monotonic() < deadline:
            state = api.get(f"/dags/digitisation/dagRuns/{run_id}").json()["state"]
            aips = json_lines(run_kho("aip", "list", "--json", env=env, check=True).stdout)
            new = [a for a in aips if a["aip_id"] not in before]
            if state == "failed" or (state == "success" and new):
                break
            time.sleep(3)
        tasks = {t["task_id"]: t["state"] for t in
                 api.get(f"/dags/digitisation/dagRuns/{run_id}/taskInstances").json()["task_instances"]}
        assert state == "success", (state, tasks, standalone.text()[-3000:])
        assert tasks["build_document"] == "success" and tasks["start_ingest"] == "success", tasks
        assert tasks["discard"] == "skipped", tasks
        ingests = api.get("/dags/ingest/dagRuns").json()["dag_runs"]  # the one start_ingest triggered
        assert any((r.get("conf") or {}).get("sip_path") == str(work / "sip") for r in ingests), ingests
    assert len(new) == 1, new
    aip_id = str(new[0]["aip_id"])
    code = chosen[0]["docCode"]
    files = stored_files(standalone.kho_home / "storage", aip_id)
    pdfs = [path for logical, path in files.items() if logical.endswith(f"{code}/{code}.pdf")]
    assert len(pdfs) == 1, sorted(files)
    text = pdf_text(pdfs[0])
    assert "Sở Giao thông vận tải kính đề nghị" in " ".join(text.split()), text
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    assert shown["bag_info"]["confidenceLevel"] == "02"
    sip_check = next(e for e in shown["events"] if e["type"] == "validation" and "BagIt" in e["detail"])
    assert sip_check["outcome"] == "success", sip_check

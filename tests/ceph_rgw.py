"""A real S3 server for tests: Ceph's RADOS Gateway on a throw-away one-node cluster on 127.0.0.1.

Ceph 16 (Debian 12) has no stand-alone RGW back end, so the gateway needs a monitor and one OSD:
``RgwCluster`` builds them in a temporary directory (v1 monitor address, no cephx, one replica,
BlueStore on a sparse file), starts ``ceph-mon``, ``ceph-osd`` and ``radosgw`` in the foreground
with their output in log files, creates an S3 user and, when the context ends (or start-up fails
part-way), stops every daemon it started by its PID and removes the directory.

Facts and the recipe: /work/shared/reference/ceph-rgw.md. ``python -m tests.ceph_rgw`` starts a
cluster, prints its endpoint and waits for Ctrl-C (handy to poke at RGW with the aws CLI).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.s3_server import free_port

CEPH_PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
DAEMONS = ("mon.a", "osd.0", "client.rgw.a")  # start order; stopped in reverse


def ceph_unavailable() -> str | None:
    """Why the throw-away cluster cannot run on this machine, or None when it can."""
    if shutil.which("dpkg"):
        probe = subprocess.run(["dpkg", "-s", "radosgw"], capture_output=True, text=True, check=False)
        if probe.returncode != 0 or "Status: install ok installed" not in probe.stdout:
            return "Ceph RGW is not installed (dpkg -s radosgw failed; apt-get install radosgw ceph-mon ceph-osd)"
    missing = [name for name in CEPH_PROGRAMS if shutil.which(name) is None]
    if missing:
        return f"Ceph RGW is not installed: {', '.join(missing)} not on PATH (install radosgw ceph-mon ceph-osd)"
    return None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, even by SIGKILL, so a
    crashed pytest leaves no Ceph daemon behind."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RgwError(RuntimeError):
    pass


class RgwCluster:
    """``ceph-mon`` + ``ceph-osd`` + ``radosgw`` on 127.0.0.1 and free ports, for as long as the context lasts.

    ``endpoint_url``/``port`` are the S3 endpoint; the S3 user has ``access_key``/``secret_key``.
    """

    name = "rgw"

    def __init__(
        self,
        access_key: str = "testing",
        secret_key: str = "testing",
        startup_timeout: float = 120.0,
        keep_dir: bool | None = None,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.startup_timeout = startup_timeout
        self.keep_dir = bool(os.environ.get("KHO_RGW_KEEP_DIR")) if keep_dir is None else keep_dir
        self.dir: Path | None = None
        self.port = 0
        self.mon_port = 0
        self.fsid = ""
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.startup_seconds = 0.0
        self._deadline = 0.0

    # -- public --------------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        assert self.dir is not None
        return self.dir / "ceph.conf"

    def start(self) -> RgwCluster:
        reason = ceph_unavailable()
        if reason:
            raise RgwError(reason)
        started = time.monotonic()
        self._deadline = started + self.startup_timeout
        self.dir = Path(tempfile.mkdtemp(prefix="kho-rgw-"))
        try:
            self._bootstrap()
        except BaseException as exc:
            logs = self.logs()
            self.stop()
            if isinstance(exc, RgwError):
                raise RgwError(f"{exc}\n{logs}") from None
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every daemon this object started (by PID, newest first), then remove the directory.

        SIGTERM, and SIGKILL for whatever is still running after a few seconds: the data is thrown
        away, and radosgw's orderly shutdown alone takes ~10 s."""
        running = [self.processes.pop(name) for name in reversed(list(self.processes))]
        for process in running:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 2
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self.dir is not None and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def logs(self, lines: int = 40) -> str:
        """The tail of every daemon's log, for error messages."""
        if self.dir is None:
            return ""
        out = []
        for path in sorted((self.dir / "log").glob("*.*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(out)

    def admin(self, *args: str, timeout: float = 60) -> str:
        """``radosgw-admin`` against this cluster; its stdout."""
        return self._run(["radosgw-admin", *args], timeout=timeout).stdout

    def __enter__(self) -> RgwCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- bootstrap -----------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        assert self.dir is not None
        for sub in ("log", "run", "mon/a", "osd/0", "rgw"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.fsid = str(uuid.uuid4())
        self.mon_port = free_port()
        self._write_conf()

        # 1. The monitor, with a v1-only address (a v2 one makes clients hang without cephx).
        monmap = self.dir / "monmap"
        self._run(["monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                   f"[v1:127.0.0.1:{self.mon_port}]", str(monmap)])
        self._run(["ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap)])
        self._daemon("mon.a", ["ceph-mon", "-f", "-i", "a"])

        # 2. One OSD on BlueStore. Early monitor calls can fail with EPERM "wrong fsid": retried.
        osd_uuid = str(uuid.uuid4())
        osd_id = self._retry(lambda: self._ceph("osd", "new", osd_uuid).strip(), "register the OSD")
        if osd_id != "0":
            raise RgwError(f"the monitor gave the OSD id {osd_id!r}, expected 0")
        self._retry(lambda: self._ceph("osd", "crush", "add", "osd.0", "1.0", "host=localhost", "root=default"),
                    "place the OSD in the CRUSH map")
        self._run(["ceph-osd", "--mkfs", "-i", "0", "--osd-uuid", osd_uuid], timeout=self._left(120))
        self._daemon("osd.0", ["ceph-osd", "-f", "-i", "0"])

        # 3. The gateway (it creates its pools once the OSD is up), on a free port; retried
        #    with another port if the one probed was taken in between.
        for _attempt in range(3):
            self.port = free_port()
            frontend = f"beast endpoint=127.0.0.1:{self.port} tcp_nodelay=1"
            self._daemon("client.rgw.a", ["radosgw", "-f", "-n", "client.rgw.a", "--rgw-frontends", frontend])
            if self._wait_http():
                break
            self._stop_daemon("client.rgw.a")
        else:
            raise RgwError("radosgw did not answer HTTP")

        # 4. The S3 user with the tests' dummy credentials, and one signed request to be sure.
        self._retry(
            lambda: self.admin("user", "create", "--uid", "kho-test", "--display-name", "Kho tests",
                               "--access-key", self.access_key, "--secret-key", self.secret_key),
            "create the S3 user",
        )
        self._retry(self._signed_request, "list buckets as the S3 user")

    def _write_conf(self) -> None:
        assert self.dir is not None
        d = self.dir
        self.conf.write_text(
            f"""[global]
fsid = {self.fsid}
mon host = [v1:127.0.0.1:{self.mon_port}]
mon initial members = a
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = {d}/run
admin socket = {d}/run/$name.$pid.asok
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
mon cluster log file = {d}/log/cluster.log
keyring = /dev/null
mon data = {d}/mon/$id
osd data = {d}/osd/$id
rgw data = {d}/rgw
# one node, one replica, few placement groups, fast paxos (default 1 s: 12 s start-up)
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush update on start = false
osd class update on start = false
paxos propose interval = 0.01
mon data avail warn = 1
mon data avail crit = 0
# BlueStore on a sparse file (osd data/block would become a symlink loop)
osd objectstore = bluestore
bluestore block path = {d}/osd/block.$id
bluestore block create = true
bluestore block size = 10737418240
bluestore fsck on mkfs = false
osd memory target = 939524096

[client.rgw.a]
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = kho-test-key=YmluYXJ5IGtleSBmb3Iga2hvIHRlc3RzISEhISEhISE=
"""
        )

    # -- plumbing ------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {**os.environ, "CEPH_CONF": str(self.conf), "CEPH_ARGS": f"-c {self.conf}"}

    def _left(self, cap: float) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RgwError(f"the Ceph cluster did not start within {self.startup_timeout:.0f} s")
        return min(cap, left)

    def _run(self, args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, env=self._env(), check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RgwError(f"{' '.join(args)} did not finish within {timeout:.0f} s") from exc
        if done.returncode != 0:
            raise RgwError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def _ceph(self, *args: str) -> str:
        return self._run(["ceph", "--connect-timeout", "10", *args], timeout=self._left(20)).stdout

    def _retry(self, step: Callable[[], Any], what: str) -> Any:
        """Run ``step`` until it succeeds or the start-up deadline passes (then fail with its last error)."""
        while True:
            self._check_daemons()
            try:
                return step()
            except Exception as exc:  # retried; the last one is reported
                if time.monotonic() + 0.5 >= self._deadline:
                    raise RgwError(f"cannot {what} within {self.startup_timeout:.0f} s: {exc}") from exc
                time.sleep(0.3)

    def _daemon(self, name: str, args: Sequence[str]) -> None:
        assert self.dir is not None
        with open(self.dir / "log" / f"{name}.out", "ab") as out:
            self.processes[name] = subprocess.Popen(
                list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self._env(), preexec_fn=_die_with_parent,
            )

    def _stop_daemon(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def _check_daemons(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RgwError(f"{name} exited with status {process.returncode} during start-up")

    def _wait_http(self) -> bool:
        """Wait for the gateway to answer an anonymous GET /; False when radosgw exited first."""
        while True:
            process = self.processes["client.rgw.a"]
            if process.poll() is not None:
                return False
            self._check_daemons()
            self._left(1)  # raises once the deadline passed
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                status = connection.getresponse().status
                connection.close()
                if status < 500:
                    return True
            except OSError:
                pass
            time.sleep(0.2)

    def _signed_request(self) -> None:
        import boto3

        client = boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
        )
        client.list_buckets()


if __name__ == "__main__":
    with RgwCluster() as cluster:
        print(f"RGW at {cluster.endpoint_url} (key {cluster.access_key}) after {cluster.startup_seconds:.1f} s;"
              f" config {cluster.conf}. Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()

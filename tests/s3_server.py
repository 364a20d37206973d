"""A real S3 endpoint for tests: a moto server in its own process, spoken to over HTTP, and a
TCP proxy in front of it that can drop uploads or downloads mid-stream, delay responses, answer
requests with an HTTP 500, or refuse connections."""

from __future__ import annotations

import contextlib
import http.client
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol


class S3Server(Protocol):
    """What the tests need from an S3 server: moto (``MotoServer``) or Ceph RGW (``tests.ceph_rgw.RgwCluster``)."""

    name: str  # "moto" | "rgw"

    @property
    def endpoint_url(self) -> str: ...

    @property
    def port(self) -> int: ...


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1 and a free port, for as long as the context lasts."""

    name = "moto"

    def __init__(self, startup_timeout: float = 30.0) -> None:
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="moto-server-", suffix=".log")[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"moto server did not start; log:\n{self.log_path.read_text(errors='replace')}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/moto-api/")
                connection.getresponse().read()
                connection.close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


class FaultyProxy:
    """Forwards 127.0.0.1:``port`` to the target, byte for byte, with three faults on demand.

    ``cut_uploads_after(n, times)``: a connection that has carried more than ``n`` bytes towards
    the server is reset (the first ``times`` such connections; None = all of them), like a network
    drop in the middle of an upload. ``refuse()``: the port is closed (connection refused) and
    open connections are reset, like an endpoint that went down; ``resume()`` undoes it.
    ``corrupt_uploads_at(n, times)``: byte ``n`` of a connection's upload stream is flipped (the
    first ``times`` connections that get that far), everything else passes: damage in transit that
    only a checksum can reveal.

    On the response side (these see HTTP requests, also those on a kept-alive connection: a chunk
    the client sends that starts with a request line starts a new request):
    ``cut_responses_after(n, times, method="GET")``: a response to such a request is reset once
    ``n`` of its bytes (headers included) reached the client, like a GET cut off mid-body.
    ``delay_responses(seconds, times, method=None)``: the response is held back ``seconds`` before
    its first byte is passed on, like a slow server. ``fail_requests(status=500, times,
    method="GET")``: the request never reaches the server; the proxy answers it with an S3 XML
    error and that HTTP status, and closes the connection. ``times`` counts requests (None: all);
    ``method`` None matches every request. ``heal()`` ends every fault.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cut_after: int | None = None
        self.cuts_left: int | None = None
        self.cuts = 0
        self.corrupt_at: int | None = None
        self.corruptions_left: int | None = None
        self.corruptions = 0
        self.response_cut_after: int | None = None
        self.response_cuts_left: int | None = None
        self.response_cut_method: str | None = None
        self.response_cuts = 0
        self.delay: float | None = None
        self.delays_left: int | None = None
        self.delay_method: str | None = None
        self.delays = 0
        self.fail_status: int | None = None
        self.failures_left: int | None = None
        self.fail_method: str | None = None
        self.failures = 0
        self.requests: list[str] = []  # "METHOD /path" of every request seen, in order
        self.connections = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control ------------------------------------------------------------------------------

    def start(self) -> FaultyProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._acceptor.start()
        return self

    def cut_uploads_after(self, nbytes: int, times: int | None = None) -> None:
        with self._lock:
            self.cut_after = nbytes
            self.cuts_left = times

    def corrupt_uploads_at(self, offset: int, times: int | None = 1) -> None:
        with self._lock:
            self.corrupt_at = offset
            self.corruptions_left = times

    def cut_responses_after(self, nbytes: int, times: int | None = None, method: str | None = "GET") -> None:
        with self._lock:
            self.response_cut_after = nbytes
            self.response_cuts_left = times
            self.response_cut_method = method

    def delay_responses(self, seconds: float, times: int | None = None, method: str | None = None) -> None:
        with self._lock:
            self.delay = seconds
            self.delays_left = times
            self.delay_method = method

    def fail_requests(self, status: int = 500, times: int | None = None, method: str | None = "GET") -> None:
        with self._lock:
            self.fail_status = status
            self.failures_left = times
            self.fail_method = method

    def heal(self) -> None:
        with self._lock:
            self.cut_after = None
            self.cuts_left = None
            self.corrupt_at = None
            self.corruptions_left = None
            self.response_cut_after = None
            self.response_cuts_left = None
            self.delay = None
            self.delays_left = None
            self.fail_status = None
            self.failures_left = None

    def refuse(self) -> None:
        self._stop_listening()
        self._reset_all()

    def resume(self) -> None:
        self.start()

    def close(self) -> None:
        self._stop_listening()
        self._reset_all()

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _stop_listening(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _reset_all(self) -> None:
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            self._reset(sock)

    def _reset(self, sock: socket.socket) -> None:
        """Close with RST rather than FIN: the peer sees a dropped connection, not a clean end.
        The shutdown wakes the pump thread that may be blocked reading this socket."""
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
        with self._lock:
            self._open.discard(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([listener], [], [], 0.05)
            if not ready:
                continue
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open.update((client, upstream))
            link = _Link(client, upstream)
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _should_cut(self, sent_up: int) -> bool:
        with self._lock:
            if self.cut_after is None or sent_up <= self.cut_after:
                return False
            if self.cuts_left is not None:
                if self.cuts_left <= 0:
                    return False
                self.cuts_left -= 1
            self.cuts += 1
            return True

    def _should_corrupt(self, before: int, after: int) -> int | None:
        """The index in the chunk [before, after) of the upload stream to flip, if any."""
        with self._lock:
            if self.corrupt_at is None or not before <= self.corrupt_at < after:
                return None
            if self.corruptions_left is not None:
                if self.corruptions_left <= 0:
                    return None
                self.corruptions_left -= 1
            self.corruptions += 1
            return self.corrupt_at - before

    @staticmethod
    def _take(method: str | None, wanted: str | None, left: int | None) -> tuple[bool, int | None]:
        """Whether a fault armed for ``wanted`` (None: any) with ``left`` uses (None: unlimited)
        applies to a request with ``method``, and the uses left after it."""
        if method is None or (wanted is not None and method != wanted):
            return False, left
        if left is not None:
            if left <= 0:
                return False, left
            left -= 1
        return True, left

    def _new_request(self, link: _Link, data: bytes) -> bytes | None:
        """Called for a chunk from the client that starts a request: set up the response faults for
        it. Returns the error response to send instead of forwarding the request, if it is to fail."""
        match = _REQUEST_LINE.match(data)
        assert match is not None
        method = match.group(1).decode("ascii")
        with self._lock:
            self.requests.append(f"{method} {match.group(2).decode('latin-1')}")
            link.down = 0
            link.cut_at = None
            link.delay = None
            if self.response_cut_after is not None:
                hit, self.response_cuts_left = self._take(method, self.response_cut_method, self.response_cuts_left)
                if hit:
                    link.cut_at = self.response_cut_after
            if self.delay is not None:
                hit, self.delays_left = self._take(method, self.delay_method, self.delays_left)
                if hit:
                    link.delay = self.delay
                    self.delays += 1
            if self.fail_status is not None:
                hit, self.failures_left = self._take(method, self.fail_method, self.failures_left)
                if hit:
                    self.failures += 1
                    return _error_response(self.fail_status, method)
        return None

    def _response_cut(self, link: _Link, size: int) -> int | None:
        """How many bytes of the next ``size`` response bytes to pass on before resetting, if any."""
        with self._lock:
            before = link.down
            link.down += size
            if link.cut_at is None or link.down <= link.cut_at:
                return None
            link.cut_at = None
            self.response_cuts += 1
            return max(0, (self.response_cut_after or 0) - before)

    def _pump(self, link: _Link, upload: bool) -> None:
        source, sink = (link.client, link.upstream) if upload else (link.upstream, link.client)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upload and _REQUEST_LINE.match(data):
                    refusal = self._new_request(link, data)
                    if refusal is not None:
                        # Answer it ourselves, then end the connection cleanly (FIN): the request
                        # never reaches the server.
                        with contextlib.suppress(OSError):
                            link.client.sendall(refusal)
                            link.client.shutdown(socket.SHUT_WR)
                        break
                if not upload:
                    with self._lock:
                        pause, link.delay = link.delay, None
                    if pause:
                        time.sleep(pause)
                    keep = self._response_cut(link, len(data))
                    if keep is not None:
                        with contextlib.suppress(OSError):
                            sink.sendall(data[:keep])
                        link.cut = True
                        break
                if upload:
                    before = link.sent_up
                    link.sent_up += len(data)
                    if self._should_cut(link.sent_up):
                        with contextlib.suppress(OSError):
                            sink.sendall(data[: max(0, (self.cut_after or 0) - before)])
                        link.cut = True
                        break
                    flip = self._should_corrupt(before, link.sent_up)
                    if flip is not None:
                        data = data[:flip] + bytes([data[flip] ^ 0xFF]) + data[flip + 1 :]
                sink.sendall(data)
        except OSError:
            link.cut = True  # one side failed: drop the whole connection
        if link.cut:
            self._reset(link.client)
            self._reset(link.upstream)
            return
        # Clean end of one direction: pass the half-close on, close both once both are done.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with self._lock:
            link.finished += 1
            both = link.finished == 2
        if both:
            for sock in (link.client, link.upstream):
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._open.discard(sock)


class _Link:
    """One proxied connection: both sockets and what the fault logic needs to know about it."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.sent_up = 0
        self.cut = False
        self.finished = 0
        self.down = 0  # bytes of the current response passed to the client
        self.cut_at: int | None = None  # reset the current response after this many bytes
        self.delay: float | None = None  # hold the current response back this long


_REQUEST_LINE = re.compile(rb"^(GET|PUT|HEAD|POST|DELETE|OPTIONS|PATCH) (\S+)")


def _error_response(status: int, method: str) -> bytes:
    """An S3-style XML error the proxy sends in place of the server's answer."""
    reason = http.client.responses.get(status, "Error")
    code = "InternalError" if status == 500 else ("ServiceUnavailable" if status == 503 else reason.replace(" ", ""))
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>injected by FaultyProxy</Message></Error>").encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + (b"" if method == "HEAD" else body)

"""Streaming what a push-style writer produces (``export_events`` writes to a text stream) as an HTTP body.

The writer runs in a thread and hands UTF-8 chunks over a small bounded queue, so an export of any size takes
constant memory; a client that stops reading for ``EXPORT_STALL_SECONDS`` loses its export and frees the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TextIO, cast

EXPORT_CHUNK = 64 * 1024
EXPORT_STALL_SECONDS = 600.0  # a client that reads nothing for this long loses its export


class _Cancelled(Exception):
    """The client went away; the producer thread stops writing."""


class _ChunkWriter:
    """A text stream for ``export_events`` that hands UTF-8 chunks to a bounded queue."""

    def __init__(self, put: Callable[[bytes], None]) -> None:
        self._put = put
        self._parts: list[str] = []
        self._size = 0

    def write(self, data: str) -> int:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= EXPORT_CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._parts:
            chunk = "".join(self._parts).encode("utf-8")
            self._parts, self._size = [], 0
            self._put(chunk)


def stream_text(produce: Callable[[TextIO], None]) -> Iterator[bytes]:
    """Run ``produce`` in a thread and yield what it writes: constant memory for any export size."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=16)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> None:
        waited = 0.0
        while not stop.is_set() and waited < EXPORT_STALL_SECONDS:
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                waited += 0.5
        raise _Cancelled

    def run() -> None:
        try:
            writer = _ChunkWriter(put)
            produce(cast(TextIO, writer))
            writer.flush()
            put(None)
        except _Cancelled:
            return
        except BaseException as exc:  # handed to the consumer, which logs it
            try:
                put(exc)
            except _Cancelled:
                return

    thread = threading.Thread(target=run, name="kho-api-export", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = chunks.get(timeout=1.0)
            except queue.Empty:
                if thread.is_alive():
                    continue
                raise RuntimeError("event export stopped: the client read nothing for too long") from None
            if item is None:
                return
            if isinstance(item, BaseException):
                # the status line is already sent: aborting the connection (no final chunk) is the only
                # signal left, and it keeps a truncated CSV or JSON-lines export from looking complete
                raise RuntimeError("event export failed mid-stream") from item
            yield item
    finally:
        stop.set()

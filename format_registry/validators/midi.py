"""Standard MIDI File validation, in-process: the chunk structure and every event of every track.

An SMF (MIDI 1.0 "Standard MIDI Files") is an ``MThd`` chunk (format 0, 1 or 2, the number of tracks,
the time division) followed by ``MTrk`` chunks, each a sequence of delta-time + event pairs. Delta
times and event lengths are variable-length quantities of at most 4 bytes; channel messages carry one
or two data bytes below 0x80 and may use running status; meta (FF) and sysex (F0/F7) events carry a
length; every track ends with End of Track (FF 2F 00). The events are the whole payload, so a clean
parse of all of them is "valid". Errors are what the spec forbids or a reader cannot get past: a chunk
larger than the file, a bad length, a data byte with no status to apply it to, a missing End of
Track. Unknown chunks, bytes after the last track or after End of Track, and running status carried
across a meta/sysex event (which the spec cancels but players honour) are warnings.

A RIFF RMID file (an SMF in the ``data`` chunk of a RIFF form) is checked the same way. Files are read
whole; anything over :data:`MAX_BYTES` (MIDI files are kilobytes) is not validated.
"""

from __future__ import annotations

import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from .av import kho_version
from .results import VALID, Message, ValidationResult, not_validated, status_from_messages

MAX_BYTES = 64 * 1024 * 1024
MAX_MESSAGES = 50  # a damaged file of many tracks would otherwise report on every one
VALIDATOR = "kho-midi"
MODULE = "SMF"
# Data bytes after a channel status, by its high nibble (8x note off ... Ex pitch bend).
_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}
# Meta events whose length SMF 1.0 fixes: sequence number, channel prefix, port, tempo, SMPTE offset,
# time signature, key signature.
_META_LENGTHS = {0x00: (0, 2), 0x20: (1,), 0x21: (1,), 0x51: (3,), 0x54: (5,), 0x58: (4,), 0x59: (2,)}
_SMPTE_RATES = (24, 25, 29, 30)


class _TrackError(Exception):
    """A problem that stops the parse of one track: nothing after it can be read reliably."""

    def __init__(self, message_id: str, text: str, offset: int) -> None:
        super().__init__(text)
        self.message = Message(message_id, "error", text, offset)


def _vlq(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A variable-length quantity at ``pos``: (value, position after it)."""
    value = 0
    for i in range(4):
        if pos + i >= end:
            raise _TrackError("midi.vlq", "variable-length quantity runs past the end of the track", pos)
        byte = data[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise _TrackError("midi.vlq", "variable-length quantity longer than 4 bytes", pos)


class _Warnings:
    """Warnings of one track, each kind reported once with the number of times it occurred."""

    def __init__(self) -> None:
        self._first: dict[str, Message] = {}
        self._count: dict[str, int] = {}

    def add(self, message_id: str, text: str, offset: int) -> None:
        self._first.setdefault(message_id, Message(message_id, "warning", text, offset))
        self._count[message_id] = self._count.get(message_id, 0) + 1

    def messages(self) -> list[Message]:
        out = []
        for message_id, first in self._first.items():
            count = self._count[message_id]
            out.append(
                first if count == 1 else Message(message_id, "warning", f"{first.text} ({count} times)", first.offset)
            )
        return out


def _parse_track(data: bytes, start: int, end: int, number: int) -> tuple[list[Message], int]:
    """Every event of the track in ``data[start:end]``; (messages, events read)."""
    warnings = _Warnings()
    pos, events = start, 0
    running: int | None = None  # the last channel status, for running status
    cancelled = False  # a meta or sysex event came after it
    try:
        while pos < end:
            _delta, pos = _vlq(data, pos, end)
            if pos >= end:
                raise _TrackError("midi.event.truncated", "the track ends after a delta time", pos)
            status = data[pos]
            if status < 0x80:
                if running is None:
                    raise _TrackError("midi.event.status", f"data byte 0x{status:02X} with no status before it", pos)
                if cancelled:
                    warnings.add("midi.running-status", "running status continued after a meta or sysex event", pos)
                status = running
            else:
                pos += 1
            event_at = pos
            if status < 0xF0:
                count = _DATA_BYTES[status >> 4]
                if pos + count > end:
                    raise _TrackError("midi.event.truncated", f"the track ends inside a 0x{status:02X} event", pos)
                for i in range(count):
                    if data[pos + i] >= 0x80:
                        text = f"data byte 0x{data[pos + i]:02X} of a 0x{status:02X} event is not below 0x80"
                        raise _TrackError("midi.event.data", text, pos + i)
                pos += count
                running, cancelled = status, False
            elif status == 0xFF:
                if pos >= end:
                    raise _TrackError("midi.event.truncated", "the track ends inside a meta event", pos)
                meta = data[pos]
                length, pos = _vlq(data, pos + 1, end)
                if pos + length > end:
                    text = f"meta event 0x{meta:02X} of {length} bytes runs past the end of the track"
                    raise _TrackError("midi.meta.length", text, event_at)
                pos += length
                events += 1
                if meta == 0x2F:
                    if length:
                        warnings.add("midi.eot", f"End of Track event with {length} data bytes, 0 expected", event_at)
                    if pos < end:
                        warnings.add("midi.eot.trailing", f"{end - pos} bytes after End of Track", pos)
                    return warnings.messages(), events
                if meta in _META_LENGTHS and length not in _META_LENGTHS[meta]:
                    text = f"meta event 0x{meta:02X} of {length} bytes, {_META_LENGTHS[meta][-1]} expected"
                    warnings.add("midi.meta.length", text, event_at)
                cancelled = running is not None
                continue
            elif status in (0xF0, 0xF7):
                length, pos = _vlq(data, pos, end)
                if pos + length > end:
                    text = f"sysex event of {length} bytes runs past the end of the track"
                    raise _TrackError("midi.sysex.length", text, event_at)
                pos += length
                cancelled = running is not None
            else:
                raise _TrackError(
                    "midi.event.status", f"status byte 0x{status:02X} is not allowed in a MIDI file", event_at - 1
                )
            events += 1
    except _TrackError as problem:
        return [*warnings.messages(), problem.message], events
    text = f"track {number} has no End of Track event (FF 2F 00)"
    return [*warnings.messages(), Message("midi.eot.missing", "error", text, end)], events


def _division(division: int, messages: list[Message], details: dict[str, Any]) -> None:
    if division & 0x8000:
        fps, ticks = 256 - (division >> 8), division & 0xFF
        details["division"] = f"SMPTE {fps} frames/s, {ticks} ticks per frame"
        if fps not in _SMPTE_RATES or not ticks:
            messages.append(
                Message(
                    "midi.header.division", "warning", f"SMPTE division of {fps} frames/s, {ticks} ticks per frame", 12
                )
            )
    else:
        details["division"] = f"{division} ticks per quarter note"
        if not division:
            messages.append(Message("midi.header.division", "warning", "0 ticks per quarter note", 12))


def validate_midi(path: str | os.PathLike[str]) -> ValidationResult:
    """Check a Standard MIDI File's header, chunks and the events of every track (also inside RIFF RMID)."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return not_validated(
            f"not performed: larger than the {MAX_BYTES // 2**20} MB a MIDI file is read up to",
            validator=VALIDATOR,
            tool_version=kho_version(),
            module=MODULE,
            message_id="midi.size",
        )
    messages: list[Message] = []
    details: dict[str, Any] = {}
    module = MODULE
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        module = "RMID"
        start, end = _rmid_data(data, messages)
        if end > start:
            found: list[Message] = []
            _check_smf(data[start:end], found, details)
            messages += [replace(m, offset=None if m.offset is None else m.offset + start) for m in found]
    else:
        _check_smf(data, messages, details)
    status = status_from_messages(messages, VALID)
    shown = list(dict.fromkeys(messages))
    if len(shown) > MAX_MESSAGES:
        more = len(shown) - MAX_MESSAGES
        shown = [*shown[:MAX_MESSAGES], Message("midi.messages", "info", f"{more} more messages not shown")]
    return ValidationResult(status, VALIDATOR, kho_version(), module, tuple(shown), details)


def _rmid_data(data: bytes, messages: list[Message]) -> tuple[int, int]:
    """Where the SMF inside a RIFF RMID file is: the ``data`` chunk's (start, end); (0, 0) if absent."""
    declared = struct.unpack("<I", data[4:8])[0] + 8
    end = min(declared, len(data))
    if declared > len(data):
        messages.append(Message("rmid.truncated", "error", f"header declares {declared} bytes, file has {len(data)}"))
    elif len(data) - declared > (declared & 1):
        messages.append(Message("rmid.trailing", "warning", f"{len(data) - declared} bytes after the RIFF chunk"))
    pos, found = 12, (0, 0)
    while pos + 8 <= end:
        chunk_id, length = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if pos + 8 + length > end:
            text = f"chunk {chunk_id.decode('latin-1')!r} claims {length} bytes, {end - pos - 8} remain"
            messages.append(Message("rmid.chunk", "error", text, pos))
            return found
        if chunk_id == b"data" and found == (0, 0):
            found = (pos + 8, pos + 8 + length)
        pos += 8 + length + (length & 1)
    if found == (0, 0):
        messages.append(Message("rmid.data", "error", "no data chunk holding the MIDI file"))
    return found


def _check_smf(data: bytes, messages: list[Message], details: dict[str, Any]) -> None:
    """The header, the chunks and the events of every track of the SMF in ``data``."""
    size = len(data)
    if data[:4] != b"MThd" or size < 14:
        text = "no MThd header chunk at the start" if data[:4] != b"MThd" else f"file of {size} bytes, header cut short"
        messages.append(Message("midi.header", "error", text, 0))
        return
    header_length = struct.unpack(">I", data[4:8])[0]
    file_format, declared, division = struct.unpack(">HHH", data[8:14])
    details.update(format=file_format, tracks_declared=declared)
    if header_length < 6 or 8 + header_length > size:
        text = f"MThd chunk of {header_length} bytes in a {size}-byte file"
        messages.append(Message("midi.header", "error", text, 4))
        return
    if file_format > 2:
        messages.append(Message("midi.header.format", "error", f"format {file_format}, only 0, 1 and 2 exist", 8))
    elif file_format == 0 and declared != 1:
        text = f"format 0 with {declared} tracks, exactly 1 allowed"
        messages.append(Message("midi.header.tracks", "error", text, 10))
    elif declared == 0:
        messages.append(Message("midi.header.tracks", "warning", "no tracks declared", 10))
    _division(division, messages, details)

    pos, tracks, events = 8 + header_length, 0, 0
    while pos < size:
        if size - pos < 8:
            messages.append(Message("midi.trailing", "warning", f"{size - pos} bytes after the last chunk", pos))
            break
        chunk_id, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        printable = all(0x20 <= b < 0x7F for b in chunk_id)
        if chunk_id == b"MTrk" and pos + 8 + length > size:
            text = f"track {tracks + 1} claims {length} bytes, {size - pos - 8} remain"
            messages.append(Message("midi.track.size", "error", text, pos))
            break
        if chunk_id != b"MTrk" and (not printable or pos + 8 + length > size):
            if tracks < declared:  # a track was due here
                text = f"expected track {tracks + 1} (MTrk), found {chunk_id!r} of {length} bytes"
                messages.append(Message("midi.chunk", "error", text, pos))
            else:
                messages.append(Message("midi.trailing", "warning", f"{size - pos} bytes after the last track", pos))
            break
        if chunk_id == b"MTrk":
            tracks += 1
            found, count = _parse_track(data, pos + 8, pos + 8 + length, tracks)
            messages += found
            events += count
        else:
            text = f"unknown chunk {chunk_id.decode('latin-1')!r} of {length} bytes skipped"
            messages.append(Message("midi.chunk.unknown", "warning", text, pos))
        pos += 8 + length
    details.update(tracks=tracks, events=events)
    if tracks < declared:
        messages.append(Message("midi.tracks", "error", f"header declares {declared} tracks, {tracks} found"))
    elif tracks > declared:
        messages.append(Message("midi.tracks", "warning", f"header declares {declared} tracks, {tracks} found"))

"""Uncompressed WAVE/AIFF/AU validated in-process by their structure (no ffprobe/ffmpeg), compressed ones
still probed and decoded, and Standard MIDI Files parsed event by event: the corpus's real WAVE and
AIFF files plus files built here byte by byte."""

from __future__ import annotations

import csv
import io
import shutil
import struct
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from format_registry import toolrun
from format_registry.validators import (
    INVALID,
    NOT_VALIDATED,
    VALID,
    WELL_FORMED,
    ValidationResult,
    av,
    builtin_kind,
    midi,
    validate_file,
)
from tests.conftest import CORPORA

FORMATS = CORPORA / "formats"
HAS_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start ffprobe, ffmpeg or another process fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a subprocess was started: {args!r}")

    monkeypatch.setattr(toolrun, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


Check = Callable[..., ValidationResult]


@pytest.fixture
def check(tmp_path: Path) -> Check:
    """Write bytes to a file named ``name`` and validate it as ``mime`` through the normal dispatch."""

    def run(data: bytes, name: str, mime: str, puid: str | None = None) -> ValidationResult:
        path = tmp_path / name
        path.write_bytes(data)
        return validate_file(path, puid, mime, use_jhove=False)

    return run


def ids(result: ValidationResult, severity: str | None = None) -> set[str | None]:
    return {m.id for m in result.messages if severity is None or m.severity == severity}


# ---------------------------------------------------------------------------------------------------
# Builders


def wav_bytes(frames: int = 800, channels: int = 2, width: int = 2, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        size = frames * channels * width
        writer.writeframes((bytes(range(256)) * (size // 256 + 1))[:size])
    return buf.getvalue()


def riff(chunks: list[tuple[bytes, bytes]], form: bytes = b"WAVE", outer: bytes = b"RIFF") -> bytes:
    body = b"".join(cid + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1) for cid, data in chunks)
    return outer + struct.pack("<I", 4 + len(body)) + form + body


def fmt(tag: int, channels: int, rate: int, bits: int, sub_format: int | None = None) -> bytes:
    align = channels * ((bits + 7) // 8)
    data = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if sub_format is not None:
        guid = struct.pack("<I", sub_format) + b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        data += struct.pack("<HHI", 22, bits, 3) + guid
    return data


def ext80(rate: int) -> bytes:
    exponent = rate.bit_length() - 1
    return struct.pack(">HQ", 16383 + exponent, rate << (63 - exponent))


def aiff_bytes(
    frames: int = 100,
    channels: int = 2,
    bits: int = 16,
    rate: int = 44100,
    compression: bytes | None = None,
    width: int | None = None,
    sample_bytes: int | None = None,
) -> bytes:
    """AIFF (or AIFC when ``compression`` is given) with a COMM and an SSND chunk, big-endian, by hand."""
    comm = struct.pack(">hIh", channels, frames, bits) + ext80(rate)
    chunks = []
    if compression is not None:
        comm += compression + b"\x00\x00"  # empty Pascal string, padded to even length
        chunks.append((b"FVER", struct.pack(">I", 0xA2805140)))
    count = frames * channels * (width or (bits + 7) // 8) if sample_bytes is None else sample_bytes
    chunks += [(b"COMM", comm), (b"SSND", struct.pack(">II", 0, 0) + b"\x11" * count)]
    body = b"".join(cid + struct.pack(">I", len(data)) + data + b"\x00" * (len(data) & 1) for cid, data in chunks)
    form = b"AIFC" if compression is not None else b"AIFF"
    return b"FORM" + struct.pack(">I", 4 + len(body)) + form + body


def au_bytes(
    encoding: int = 3,
    rate: int = 8000,
    channels: int = 2,
    payload: bytes = b"\x01\x02" * 400,
    offset: int | None = None,
    size: int | None = None,
) -> bytes:
    annotation = b"Kho test\x00\x00\x00\x00"
    offset = 24 + len(annotation) if offset is None else offset
    size = len(payload) if size is None else size
    return struct.pack(">4s5I", b".snd", offset, size, encoding, rate, channels) + annotation + payload


def smf(tracks: list[bytes], file_format: int = 1, declared: int | None = None, division: int = 480) -> bytes:
    declared = len(tracks) if declared is None else declared
    header = b"MThd" + struct.pack(">IHHH", 6, file_format, declared, division)
    return header + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


EOT = b"\x00\xff\x2f\x00"
TEMPO = b"\x00\xff\x51\x03\x07\xa1\x20"
# Note on with status, then two more notes in running status, then note-offs as velocity-0 note-ons.
MELODY = b"\x00\xc0\x05" + b"\x00\x90\x3c\x64" + b"\x83\x60\x3e\x64" + b"\x83\x60\x40\x64" + b"\x00\x3c\x00\x00\x3e\x00"


# ---------------------------------------------------------------------------------------------------
# The corpus: JHOVE's WAVE test files, FITS's WAV and JHOVE's AIFF example


def _audio_rows() -> list[dict[str, str]]:
    rows = csv.DictReader((FORMATS / "EXPECTED.tsv").open(encoding="utf-8"), delimiter="\t")
    return [
        r
        for r in rows
        if r["path"].split("/")[0] in ("audio", "audio-broken")
        and r["path"].endswith((".wav", ".aif", ".aiff", ".aifc", ".au", ".snd", ".mid"))
    ]


def test_corpus_wave_and_aiff_judged_in_process(no_subprocess: None) -> None:
    rows = _audio_rows()
    assert sum(r["path"].startswith("audio-broken/") for r in rows) >= 9
    assert any(r["path"].endswith(".aif") for r in rows)
    for row in rows:
        puid = row["expected_puid"].split(";")[0] or None
        result = validate_file(FORMATS / row["path"], puid, row["expected_mime"], use_jhove=False)
        assert result.validator in ("kho-riff", "kho-aiff") and result.tool_version, row["path"]
        if row["path"].startswith("audio-broken/"):
            assert result.status == INVALID and result.errors(), (row["path"], result.messages)
        else:
            assert result.status in (VALID, WELL_FORMED), (row["path"], result.messages)
            assert result.details["decoded"] is False


def test_corpus_details_replace_what_ffprobe_reported(no_subprocess: None) -> None:
    wav = validate_file(FORMATS / "audio" / "fits_test.wav", "fmt/703", "audio/x-wave", use_jhove=False)
    assert (wav.status, wav.validator, wav.module) == (VALID, "kho-riff", "WAVE")
    assert {k: wav.details[k] for k in ("format_tag", "channels", "sample_rate", "bits_per_sample")} == {
        "format_tag": 1,
        "channels": 1,
        "sample_rate": 96000,
        "bits_per_sample": 24,
    }
    assert wav.details["duration"] == pytest.approx(3.11624)  # what ffprobe reports
    rf64 = validate_file(FORMATS / "audio" / "rf64-float-44khz-32bit-mono.wav", None, "audio/x-wav", use_jhove=False)
    assert rf64.status == VALID and rf64.details["encoding"] == "IEEE float" and rf64.details["sub_format"] == 3
    aiff = validate_file(FORMATS / "audio" / "8-Bit-Noise-1.aif", "fmt/414", "audio/x-aiff", use_jhove=False)
    assert (aiff.status, aiff.validator, aiff.module) == (VALID, "kho-aiff", "AIFF")
    assert (aiff.details["channels"], aiff.details["sample_rate"], aiff.details["bits_per_sample"]) == (1, 44100, 16)
    assert aiff.details["duration"] == pytest.approx(5.247619)  # what ffprobe reports
    extra = validate_file(
        FORMATS / "audio-broken" / "wf-pcm-44khz-8bit-mono-file-extra-byte.wav", None, "audio/x-wav", use_jhove=False
    )
    assert extra.status == INVALID and ids(extra, "error") == {"riff.trailing"}


# ---------------------------------------------------------------------------------------------------
# WAVE


def test_pcm_wav_is_valid_without_any_subprocess(no_subprocess: None, check: Check) -> None:
    result = check(wav_bytes(frames=800, channels=2, width=2, rate=8000), "tone.wav", "audio/x-wav", "fmt/141")
    assert (result.status, result.validator, result.module, result.messages) == (VALID, "kho-riff", "WAVE", ())
    assert result.tool_version
    assert {k: result.details[k] for k in ("channels", "sample_rate", "bits_per_sample", "format_tag")} == {
        "channels": 2,
        "sample_rate": 8000,
        "bits_per_sample": 16,
        "format_tag": 1,
    }
    assert result.details["duration"] == pytest.approx(0.1)
    # 8-bit mono with an odd number of bytes, as Python's wave module writes it, and with the pad byte
    odd = wav_bytes(frames=3, channels=1, width=1)
    assert check(odd, "odd.wav", "audio/x-wav").status == VALID
    assert check(odd + b"\x00", "odd-padded.wav", "audio/x-wav").status == VALID


def test_float_extensible_and_g711_wav_are_uncompressed(no_subprocess: None, check: Check) -> None:
    samples = b"\x00\x00\x80\x3f" * 64
    assert check(riff([(b"fmt ", fmt(3, 1, 48000, 32)), (b"data", samples)]), "f.wav", "audio/x-wav").status == VALID
    ext = riff([(b"fmt ", fmt(0xFFFE, 2, 48000, 24, sub_format=1)), (b"data", b"\x00" * 6 * 10)])
    result = check(ext, "ext.wav", "audio/x-wav")
    assert (result.status, result.details["encoding"], result.details["sub_format"]) == (VALID, "PCM", 1)
    alaw = check(riff([(b"fmt ", fmt(6, 1, 8000, 8)), (b"data", b"\xd5" * 80)]), "alaw.wav", "audio/x-wav")
    # G.711 is companded: the walk checks the container, not the coding, so a clean file is well-formed
    assert (alaw.status, alaw.details["encoding"]) == (WELL_FORMED, "G.711 A-law")
    assert alaw.validator == "kho-riff" and "audio.g711" in ids(alaw)


def test_broken_pcm_wav_is_invalid_in_process(no_subprocess: None, check: Check) -> None:
    good = wav_bytes()
    truncated = check(good[:-100], "truncated.wav", "audio/x-wav")
    assert truncated.status == INVALID and "riff.truncated" in ids(truncated, "error")
    assert truncated.validator == "kho-riff"
    assert check(good + b"\x00\x00\x00", "stray.wav", "audio/x-wav").status == INVALID
    no_channels = riff([(b"fmt ", fmt(1, 0, 8000, 16)), (b"data", b"\x00" * 16)])
    assert check(no_channels, "zero.wav", "audio/x-wav").status == INVALID
    # Warnings keep a file from being valid, as they did with ffprobe
    appended = check(good + b"JUNK" + struct.pack("<I", 4) + b"abcd", "appended.wav", "audio/x-wav")
    assert appended.status == WELL_FORMED and ids(appended, "warning") == {"riff.trailing"}
    partial = riff([(b"fmt ", fmt(1, 2, 8000, 16)), (b"data", b"\x00" * 10)])
    assert check(partial, "partial.wav", "audio/x-wav").status == WELL_FORMED
    data = bytearray(good)
    data[28:32] = struct.pack("<I", 12345)  # byte rate
    assert check(bytes(data), "rate.wav", "audio/x-wav").status == WELL_FORMED


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg/ffprobe not installed")
def test_compressed_wav_still_probed_and_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adpcm = tmp_path / "adpcm.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.2", "-c:a", "adpcm_ima_wav", str(adpcm)],
        check=True,
        timeout=60,
    )
    found = av.check_structure(adpcm)
    assert found is not None and not found.uncompressed and found.details["format_tag"] == 0x11
    result = validate_file(adpcm, "fmt/142", "audio/x-wav", use_jhove=False)
    assert (result.validator, result.module, result.details["decoded"]) == ("ffprobe", "WAVE", True)
    assert result.status == VALID and result.details["streams"][0]["codec_name"] == "adpcm_ima_wav"
    # A structural error settles the verdict whatever the payload: no decode needed
    cut = tmp_path / "adpcm-cut.wav"
    cut.write_bytes(adpcm.read_bytes()[:-300])
    monkeypatch.setattr(toolrun, "run", lambda *a, **k: pytest.fail("subprocess started"))
    broken = validate_file(cut, "fmt/142", "audio/x-wav", use_jhove=False)
    assert (broken.status, broken.validator) == (INVALID, "kho-riff")


# ---------------------------------------------------------------------------------------------------
# AIFF / AIFC


def test_aiff_and_uncompressed_aifc_valid_in_process(no_subprocess: None, check: Check) -> None:
    aiff = check(aiff_bytes(frames=441, channels=2, bits=16), "a.aif", "audio/x-aiff", "fmt/414")
    assert (aiff.status, aiff.validator, aiff.module) == (VALID, "kho-aiff", "AIFF")
    assert aiff.details["duration"] == pytest.approx(0.01) and aiff.details["sample_rate"] == 44100
    sowt = check(aiff_bytes(compression=b"sowt"), "s.aifc", "audio/x-aiff", "x-fmt/136")
    assert (sowt.status, sowt.module, sowt.details["compression_type"]) == (VALID, "AIFC", "sowt")
    fl32 = check(aiff_bytes(bits=32, compression=b"fl32"), "f.aifc", "audio/x-aiff")
    assert (fl32.status, fl32.details["encoding"]) == (VALID, "IEEE float")
    in24 = check(aiff_bytes(bits=24, compression=b"in24", width=3), "i.aifc", "audio/x-aiff")
    assert in24.status == VALID


def test_broken_aiff_invalid_in_process(no_subprocess: None, check: Check) -> None:
    short = check(aiff_bytes(frames=100, sample_bytes=300), "short.aif", "audio/x-aiff")
    assert short.status == INVALID and "aiff.ssnd" in ids(short, "error")
    cut = check(aiff_bytes()[:-10], "cut.aif", "audio/x-aiff")
    assert cut.status == INVALID and "riff.truncated" in ids(cut, "error")
    longer = check(aiff_bytes(frames=100, sample_bytes=404), "long.aif", "audio/x-aiff")
    assert longer.status == WELL_FORMED and ids(longer, "warning") == {"aiff.ssnd"}
    no_fver = aiff_bytes(compression=b"NONE").replace(b"FVER", b"JUNK")
    assert check(no_fver, "nofver.aifc", "audio/x-aiff").status == WELL_FORMED


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg/ffprobe not installed")
def test_compressed_aifc_still_probed(tmp_path: Path) -> None:
    ima4 = tmp_path / "ima4.aifc"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=d=0.2", "-c:a", "adpcm_ima_qt", str(ima4)],
        check=True,
        timeout=60,
    )
    result = validate_file(ima4, "x-fmt/136", "audio/x-aiff", use_jhove=False)
    assert (result.validator, result.module, result.details["compression_type"]) == ("ffprobe", "AIFC", "ima4")
    assert result.status == VALID and result.details["decoded"] is True


# ---------------------------------------------------------------------------------------------------
# Sun/NeXT AU


def test_au_pcm_and_g711_valid_in_process(no_subprocess: None, check: Check) -> None:
    pcm = check(au_bytes(), "a.au", "audio/basic", "x-fmt/139")
    assert (pcm.status, pcm.validator, pcm.module, pcm.messages) == (VALID, "kho-au", "AU", ())
    assert {k: pcm.details[k] for k in ("channels", "sample_rate", "bits_per_sample", "encoding")} == {
        "channels": 2,
        "sample_rate": 8000,
        "bits_per_sample": 16,
        "encoding": "PCM",
    }
    assert pcm.details["duration"] == pytest.approx(0.025)
    ulaw = check(au_bytes(encoding=1, channels=1, payload=b"\xff" * 8000), "u.au", "audio/basic")
    assert (ulaw.status, ulaw.details["encoding"], ulaw.details["duration"]) == (WELL_FORMED, "G.711 mu-law", 1.0)
    unknown_size = check(au_bytes(size=0xFFFFFFFF), "stream.au", "audio/basic")
    assert unknown_size.status == VALID and ids(unknown_size) == {"au.size"}


def test_au_structural_problems(no_subprocess: None, check: Check) -> None:
    truncated = check(au_bytes()[:-10], "t.au", "audio/basic")
    assert truncated.status == INVALID and ids(truncated, "error") == {"au.truncated"}
    assert check(au_bytes(offset=16), "o.au", "audio/basic").status == INVALID
    assert check(au_bytes(offset=5000), "far.au", "audio/basic").status == INVALID
    assert check(au_bytes(channels=0), "c.au", "audio/basic").status == INVALID
    assert check(au_bytes(rate=0), "r.au", "audio/basic").status == INVALID
    assert check(b".snd\x00\x00\x00\x18", "h.au", "audio/basic").status == INVALID
    trailing = check(au_bytes() + b"\x00" * 7, "x.au", "audio/basic")
    assert trailing.status == WELL_FORMED and ids(trailing) == {"au.trailing"}
    partial = check(au_bytes(payload=b"\x00" * 801), "p.au", "audio/basic")
    assert partial.status == WELL_FORMED and ids(partial) == {"au.data"}


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg/ffprobe not installed")
def test_compressed_au_goes_to_ffprobe(check: Check) -> None:
    g721 = check(au_bytes(encoding=23, channels=1, payload=b"\x5a" * 400), "g721.au", "audio/basic")
    assert g721.validator == "ffprobe" and g721.details["au_encoding"] == 23


# ---------------------------------------------------------------------------------------------------
# Standard MIDI File


def test_midi_format_0_and_1_valid_in_process(no_subprocess: None, check: Check) -> None:
    zero = check(smf([TEMPO + MELODY + EOT], file_format=0), "a.mid", "audio/midi", "x-fmt/230")
    assert (zero.status, zero.validator, zero.module, zero.messages) == (VALID, "kho-midi", "SMF", ())
    assert zero.tool_version and zero.details["format"] == 0 and zero.details["tracks"] == 1
    assert zero.details["events"] == 8  # tempo, program change, 3 note-ons, 2 note-offs, End of Track
    conductor = TEMPO + b"\x00\xff\x58\x04\x04\x02\x18\x08" + b"\x00\xff\x03\x05Piano" + EOT
    sysex = b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7"  # GM system on
    one = check(smf([conductor, sysex + MELODY + EOT]), "b.mid", "audio/x-midi")
    assert (one.status, one.details["tracks"]) == (VALID, 2)
    smpte = check(smf([MELODY + EOT], file_format=0, division=0xE728), "s.mid", "audio/midi")
    assert smpte.status == VALID and smpte.details["division"].startswith("SMPTE 25 ")


def test_midi_running_status_accepted_and_its_misuse_flagged(no_subprocess: None, check: Check) -> None:
    running = b"\x00\x90\x3c\x64" + b"\x10\x3e\x64" * 50 + b"\x10\x3c\x00" + EOT
    assert check(smf([running], file_format=0), "r.mid", "audio/midi").status == VALID
    after_meta = b"\x00\x90\x3c\x64" + b"\x00\xff\x01\x02hi" + b"\x10\x3c\x00" + EOT  # meta cancels running status
    result = check(smf([after_meta], file_format=0), "m.mid", "audio/midi")
    assert result.status == WELL_FORMED and ids(result) == {"midi.running-status"}
    no_status = check(smf([b"\x00\x3c\x64" + EOT], file_format=0), "n.mid", "audio/midi")
    assert no_status.status == INVALID and ids(no_status, "error") == {"midi.event.status"}


def test_midi_structural_errors(no_subprocess: None, check: Check) -> None:
    def errors(data: bytes) -> set[str | None]:
        result = check(data, "x.mid", "audio/midi")
        assert result.status == INVALID, result.messages
        return ids(result, "error")

    assert errors(smf([TEMPO + MELODY], file_format=0)) == {"midi.eot.missing"}
    beyond = smf([MELODY + EOT], file_format=0)
    assert errors(beyond[:18] + struct.pack(">I", 5000) + beyond[22:]) == {"midi.track.size", "midi.tracks"}
    assert errors(smf([b"\x81\x81\x81\x81\x00\x90\x3c\x64" + EOT], file_format=0)) == {"midi.vlq"}
    assert errors(smf([b"\x00\x90\x3c\xe4" + EOT], file_format=0)) == {"midi.event.data"}
    assert errors(smf([b"\x00\xf1\x10" + EOT], file_format=0)) == {"midi.event.status"}
    assert errors(smf([b"\x00\xff\x01\x40short" + EOT], file_format=0)) == {"midi.meta.length"}
    assert errors(smf([b"\x00\xf0\x40\x7e" + EOT], file_format=0)) == {"midi.sysex.length"}
    assert errors(smf([MELODY + EOT, MELODY + EOT], file_format=0)) == {"midi.header.tracks"}
    assert errors(smf([MELODY + EOT], declared=3)) == {"midi.tracks"}
    assert errors(smf([MELODY + EOT], file_format=3)) == {"midi.header.format"}
    assert errors(b"RIFF" + bytes(40)) == {"midi.header"}
    assert errors(b"MThd\x00\x00\x00\x06\x00") == {"midi.header"}


def test_midi_alien_chunks_and_trailing_data_are_warnings(no_subprocess: None, check: Check) -> None:
    track = MELODY + EOT
    alien = smf([track, track])
    alien = alien[: 22 + len(track)] + b"XFIH" + struct.pack(">I", 4) + b"abcd" + alien[22 + len(track) :]
    result = check(alien, "alien.mid", "audio/midi")
    assert result.status == WELL_FORMED and ids(result) == {"midi.chunk.unknown"}
    for name, tail in (("garbage", b"\x00\x01\xff"), ("junk", b"\x00" * 20)):
        trailing = check(smf([track], file_format=0) + tail, f"{name}.mid", "audio/midi")
        assert trailing.status == WELL_FORMED and ids(trailing) == {"midi.trailing"}, name
    after_eot = check(smf([EOT + b"\x00\x90\x3c\x64"], file_format=0), "e.mid", "audio/midi")
    assert after_eot.status == WELL_FORMED and ids(after_eot) == {"midi.eot.trailing"}


def test_rmid_checks_the_midi_file_inside(no_subprocess: None, check: Check) -> None:
    inner = smf([TEMPO + MELODY + EOT], file_format=0)
    rmid = riff([(b"data", inner), (b"LIST", b"INFOINAM\x04\x00\x00\x00Kho\x00")], form=b"RMID")
    result = check(rmid, "a.rmi", "audio/mid", "fmt/956")
    assert (result.status, result.validator, result.module, result.details["events"]) == (VALID, "kho-midi", "RMID", 8)
    no_eot = smf([TEMPO + MELODY], file_format=0)
    broken = check(riff([(b"data", no_eot)], form=b"RMID"), "b.rmi", "audio/mid", "fmt/956")
    assert broken.status == INVALID and ids(broken, "error") == {"midi.eot.missing"}
    assert broken.errors()[0].offset == 20 + len(no_eot)  # an offset in the file, not in the embedded SMF
    assert check(rmid[:-20], "c.rmi", "audio/mid").status == INVALID
    assert check(riff([(b"LIST", b"INFO")], form=b"RMID"), "d.rmi", "audio/mid").status == INVALID


def test_midi_too_large_is_not_validated(check: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(midi, "MAX_BYTES", 64)
    result = check(smf([MELODY * 4 + EOT], file_format=0), "big.mid", "audio/midi")
    assert result.status == NOT_VALIDATED and result.messages[0].text.startswith("not performed")


def test_dispatch_of_the_new_families() -> None:
    assert builtin_kind("x-fmt/230", "audio/midi") == "midi" and builtin_kind(None, "audio/x-midi") == "midi"
    assert builtin_kind("fmt/956", "audio/mid") == "midi"
    assert builtin_kind("fmt/141", None) == "pcm" and builtin_kind("fmt/712", None) == "pcm"
    assert builtin_kind("fmt/414", None) == "pcm" and builtin_kind(None, "audio/x-aiff") == "pcm"
    assert builtin_kind("x-fmt/139", "audio/basic") == "pcm" and builtin_kind(None, "audio/x-wav") == "pcm"
    assert builtin_kind("fmt/134", "audio/mpeg") == "av" and builtin_kind(None, "audio/flac") == "av"

"""Deterministic generator of benchmark corpora: real files of real formats, varied content.

Every file comes from its own ``random.Random(f"{seed}:{index}")``, so a corpus is the same
for the same arguments whatever the number of worker processes (Pillow's encoders are
deterministic for one Pillow version). Nothing is downloaded; only the standard library and
Pillow are used.

Formats: PDF 1.4-1.7 (hand-built, correct xref; large ones carry JPEG page scans), DOCX
(OOXML zip), ODT (ODF zip, ``mimetype`` first and stored), XML, TXT, CSV and HTML (Vietnamese
text, UTF-8, NFC), JPEG/PNG/TIFF/GIF/BMP (Pillow), WAV (``wave``), Sun AU and MIDI (hand-built).

Usage::

    python bench/corpus.py --files 2000 --mix mixed --size-dist small --out /tmp/corpus [--seed 1] [--bag]

``make_bag(dir)`` turns a folder into a BagIt 1.0 bag (payload moved to ``data/``,
``manifest-sha256.txt``, ``tagmanifest-sha256.txt``, ``Payload-Oxum``).
"""

from __future__ import annotations

import argparse
import array
import hashlib
import io
import json
import math
import os
import random
import struct
import sys
import time
import unicodedata
import wave
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw, ImageFilter

FIXED_MTIME = 1735516800  # 2024-12-30T00:00:00Z, every generated file
ZIP_DATE_TIME = (2024, 12, 30, 8, 0, 0)
FILES_PER_FOLDER = 250
SIZE_RANGES = {"small": (1_000, 64_000), "large": (256_000, 8_000_000)}

WORDS = unicodedata.normalize(
    "NFC",
    "hồ sơ văn bản lưu trữ quyết định công văn tờ trình báo cáo kế hoạch thông báo biên bản hợp đồng "
    "ủy ban nhân dân tỉnh thành phố huyện xã phường sở tài nguyên môi trường giáo dục đào tạo y tế "
    "tài chính kế toán ngân sách nhà nước cán bộ công chức viên chức nhân sự tuyển dụng khen thưởng "
    "kỷ luật đất đai xây dựng giao thông vận tải nông nghiệp phát triển nông thôn thủy lợi điện lực "
    "năm tháng ngày số ký hiệu trích yếu nội dung người ký chức vụ cơ quan ban hành nơi nhận độ mật "
    "khẩn thường hỏa tốc bảo quản vĩnh viễn có thời hạn chỉnh lý thu thập nộp lưu phông lưu trữ "
    "mục lục danh mục chứng từ tiếng Việt đồng bằng sông Cửu Long Hà Nội Huế Đà Nẵng Cần Thơ",
).split()
NAMES = unicodedata.normalize("NFC", "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý").split()
GIVEN = unicodedata.normalize("NFC", "Văn Thị Minh Thu Hương Quang Đức Anh Lan Hải Phương Tuấn Hùng Ngọc").split()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def ascii_fold(text: str) -> str:
    """Vietnamese without diacritics, for the base-14 PDF fonts."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def sentence(rng: random.Random, low: int = 6, high: int = 18) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def person(rng: random.Random) -> str:
    return f"{rng.choice(NAMES)} {rng.choice(GIVEN)} {rng.choice(GIVEN)}"


def _dims_for(target: int, bytes_per_pixel: float, rng: random.Random) -> tuple[int, int]:
    pixels = max(256, int(target / bytes_per_pixel))
    aspect = rng.uniform(0.6, 1.6)
    width = max(16, int(math.sqrt(pixels * aspect)))
    return width, max(16, pixels // width)


# -- images ----------------------------------------------------------------------------------------


def picture(rng: random.Random, width: int, height: int, noise: float | None = None) -> Image.Image:
    """An RGB picture: gradients, noise and shapes, different for every seed."""
    size = (width, height)
    channels = []
    for _ in range(3):
        base = Image.linear_gradient("L").rotate(rng.uniform(0, 360)).resize(size)
        channels.append(base)
    image = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 12)):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(1, max(2, width // 2)), y0 + rng.randrange(1, max(2, height // 2))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3)))
    sigma = rng.uniform(2, 60) if noise is None else noise
    grain = Image.effect_noise(size, sigma).convert("RGB")
    return Image.blend(image, grain, rng.uniform(0.05, 0.35))


def make_jpeg(rng: random.Random, target: int) -> bytes:
    image = picture(rng, *_dims_for(target, rng.uniform(0.4, 1.2), rng))
    if rng.random() < 0.2:
        image = image.convert("L")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=rng.randint(60, 95), progressive=rng.random() < 0.3, dpi=(300, 300))
    return buf.getvalue()


def make_png(rng: random.Random, target: int) -> bytes:
    mode = rng.choice(["RGB", "RGB", "RGBA", "L", "P"])
    image = picture(rng, *_dims_for(target, {"RGB": 2.0, "RGBA": 2.5, "L": 0.8, "P": 0.6}[mode], rng))
    if mode == "P":
        image = image.quantize(rng.randint(8, 256), method=Image.Quantize.FASTOCTREE)
    else:
        image = image.convert(mode)
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=rng.randint(1, 6))
    return buf.getvalue()


def make_tiff(rng: random.Random, target: int) -> bytes:
    compression = rng.choice(["raw", "raw", "tiff_lzw", "packbits"])
    mode = rng.choice(["RGB", "RGB", "L"])
    image = picture(rng, *_dims_for(target, 3.0 if mode == "RGB" else 1.0, rng))
    buf = io.BytesIO()
    image.convert(mode).save(buf, "TIFF", compression=compression, dpi=(300, 300))
    return buf.getvalue()


def make_gif(rng: random.Random, target: int) -> bytes:
    image = picture(rng, *_dims_for(target, 0.7, rng), noise=rng.uniform(1, 10)).quantize(
        rng.choice([16, 64, 256]), method=Image.Quantize.FASTOCTREE
    )
    buf = io.BytesIO()
    image.save(buf, "GIF")
    return buf.getvalue()


def make_bmp(rng: random.Random, target: int) -> bytes:
    image = picture(rng, *_dims_for(target, 3.0, rng))
    buf = io.BytesIO()
    image.save(buf, "BMP")
    return buf.getvalue()


# -- documents -------------------------------------------------------------------------------------


def _pdf_text(text: str) -> bytes:
    """A PDF literal string for the page text (ASCII after folding)."""
    folded = ascii_fold(text).encode("latin-1", "replace")
    return b"(" + folded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _pdf_utf16(text: str) -> bytes:
    return b"<" + ("\ufeff" + nfc(text)).encode("utf-16-be").hex().upper().encode() + b">"


def make_pdf(rng: random.Random, target: int) -> bytes:
    """A hand-built PDF 1.4-1.7: text pages, and for large targets JPEG page scans."""
    version = rng.choice([b"1.4", b"1.5", b"1.6", b"1.7"])
    compress = rng.random() < 0.6
    scans = target > 200_000
    per_page = 40_000 if not scans else 300_000
    pages = max(1, min(200, target // per_page)) if scans else max(1, min(40, target // 3_000))
    objects: list[bytes] = []  # object n is objects[n-1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids: list[int] = []
    for number in range(pages):
        lines = [b"BT", b"/F1 11 Tf", b"14 TL", b"56 790 Td"]
        lines.append(_pdf_text(f"Trang {number + 1} - {sentence(rng, 4, 8)}") + b" Tj")
        for _ in range(rng.randint(20, 50)):
            lines.append(_pdf_text(sentence(rng, 5, 11)) + b" '")
        lines.append(b"ET")
        resources = b"/Font << /F1 %d 0 R >>" % font
        if scans:
            scan_width, scan_height = _dims_for(per_page, 0.6, rng)
            buf = io.BytesIO()
            picture(rng, scan_width, scan_height).convert("L").save(buf, "JPEG", quality=rng.randint(60, 85))
            jpeg = buf.getvalue()
            image = add(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
                % (scan_width, scan_height, len(jpeg), jpeg)
            )
            resources += b" /XObject << /Im1 %d 0 R >>" % image
            lines = [b"q 483 0 0 680 56 80 cm /Im1 Do Q", *lines]
        stream = b"\n".join(lines) + b"\n"
        if compress:
            stream = zlib.compress(stream, 6)
            header = b"<< /Length %d /Filter /FlateDecode >>" % len(stream)
        else:
            header = b"<< /Length %d >>" % len(stream)
        content = add(header + b"\nstream\n" + stream + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << %s >> /Contents %d 0 R >>"
                % (pages_obj, resources, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    date = b"(D:2024%02d%02d%02d%02d00+07'00')" % (
        rng.randint(1, 12),
        rng.randint(1, 28),
        rng.randint(7, 17),
        rng.randint(0, 59),
    )
    info = add(
        b"<< /Title %s /Author %s /Producer (Kho bench/corpus.py) /CreationDate %s /ModDate %s >>"
        % (_pdf_utf16(sentence(rng, 4, 9)), _pdf_utf16(person(rng)), date, date)
    )
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    file_id = hashlib.md5(bytes(out[:4096]), usedforsecurity=False).hexdigest().upper().encode()
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        catalog,
        info,
        file_id,
        file_id,
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _zip(parts: Iterable[tuple[str, bytes, bool]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data, deflate in parts:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()


def _paragraphs(rng: random.Random, target: int) -> list[str]:
    count = max(2, min(4000, target // 400))
    return [paragraph(rng, rng.randint(1, 5)) for _ in range(count)]


def _media(rng: random.Random, target: int) -> list[bytes]:
    """JPEG pictures embedded in large office documents (text alone compresses too well)."""
    pictures: list[bytes] = []
    budget = target * 0.8
    while budget > 50_000 and len(pictures) < 20:
        size = int(min(budget, rng.uniform(100_000, 1_500_000)))
        pictures.append(make_jpeg(rng, size))
        budget -= len(pictures[-1])
    return pictures


def make_docx(rng: random.Random, target: int) -> bytes:
    """A WordprocessingML package; large ones carry pictures in ``word/media``."""
    decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    pictures = _media(rng, target) if target > 200_000 else []
    content_types = (
        decl + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="jpeg" ContentType="image/jpeg"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        "</Types>"
    )
    rels = (
        decl + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="word/document.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
        'core-properties" Target="docProps/core.xml"/></Relationships>'
    )
    doc_rels = (
        decl
        + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rIdImg{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/image" Target="media/image{i}.jpeg"/>'
            for i in range(len(pictures))
        )
        + "</Relationships>"
    )
    title = sentence(rng, 4, 9)
    heading = f'<w:pPr><w:jc w:val="center"/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>{escape(title)}</w:t></w:r>'
    body = [f"<w:p>{heading}</w:p>"]
    body += [f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in _paragraphs(rng, target)]
    document = (
        decl + '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + "".join(body)
        + '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>'
    )
    core = (
        decl + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(person(rng))}</dc:creator>"
        '<dc:language>vi-VN</dc:language><dcterms:created xsi:type="dcterms:W3CDTF">2024-12-30T08:00:00Z'
        "</dcterms:created></cp:coreProperties>"
    )
    parts = [
        ("[Content_Types].xml", content_types.encode(), True),
        ("_rels/.rels", rels.encode(), True),
        ("word/document.xml", document.encode(), True),
        ("word/_rels/document.xml.rels", doc_rels.encode(), True),
        ("docProps/core.xml", core.encode(), True),
    ]
    parts += [(f"word/media/image{i}.jpeg", data, False) for i, data in enumerate(pictures)]
    return _zip(parts)


def make_odt(rng: random.Random, target: int) -> bytes:
    """An OpenDocument text: ``mimetype`` first and stored, manifest, content, meta, styles."""
    pictures = _media(rng, target) if target > 200_000 else []
    office = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.2"'
    )
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n'
    title = sentence(rng, 4, 9)
    content = (
        decl + f"<office:document-content {office}><office:body><office:text>"
        f'<text:h text:outline-level="1">{escape(title)}</text:h>'
        + "".join(f"<text:p>{escape(p)}</text:p>" for p in _paragraphs(rng, target))
        + "</office:text></office:body></office:document-content>"
    )
    meta = (
        decl + f"<office:document-meta {office}><office:meta><dc:title>{escape(title)}</dc:title>"
        f"<meta:initial-creator>{escape(person(rng))}</meta:initial-creator><dc:language>vi-VN</dc:language>"
        "<meta:creation-date>2024-12-30T08:00:00</meta:creation-date></office:meta></office:document-meta>"
    )
    styles = decl + f"<office:document-styles {office}><office:styles/></office:document-styles>"
    entries = [("content.xml", "text/xml"), ("meta.xml", "text/xml"), ("styles.xml", "text/xml")]
    entries += [(f"Pictures/image{i}.jpg", "image/jpeg") for i in range(len(pictures))]
    manifest = (
        decl + '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        + "".join(f'<manifest:file-entry manifest:full-path="{p}" manifest:media-type="{t}"/>' for p, t in entries)
        + "</manifest:manifest>"
    )
    parts = [
        ("mimetype", b"application/vnd.oasis.opendocument.text", False),
        ("content.xml", content.encode(), True),
        ("meta.xml", meta.encode(), True),
        ("styles.xml", styles.encode(), True),
        ("META-INF/manifest.xml", manifest.encode(), True),
    ]
    parts += [(f"Pictures/image{i}.jpg", data, False) for i, data in enumerate(pictures)]
    return _zip(parts)


def make_xml(rng: random.Random, target: int) -> bytes:
    code = f"{rng.randint(1, 99):02d}.{rng.randint(1, 999):03d}/HS-{rng.randint(2000, 2024)}"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<danhMuc hoSo={quoteattr(code)}>"]
    lines.append(f"  <tieuDe>{escape(sentence(rng))}</tieuDe>")
    number = 0
    while sum(len(line) for line in lines) * 1.3 < target:
        number += 1
        lines.append(
            f'  <vanBan stt="{number}" soKyHieu="{rng.randint(1, 999)}/QĐ-UBND" ngay="{rng.randint(1, 28):02d}/'
            f'{rng.randint(1, 12):02d}/{rng.randint(1990, 2024)}" nguoiKy={quoteattr(person(rng))}>'
            f"{escape(sentence(rng))}</vanBan>"
        )
    lines.append("</danhMuc>")
    return ("\n".join(lines) + "\n").encode()


def make_txt(rng: random.Random, target: int) -> bytes:
    parts: list[str] = []
    size = 0.0
    while size < target:
        parts.append(paragraph(rng, rng.randint(2, 8)))
        size += len(parts[-1]) * 1.25
    return nfc("\n\n".join(parts) + "\n").encode()


def make_csv(rng: random.Random, target: int) -> bytes:
    rows = ["stt,so_ky_hieu,ngay,trich_yeu,nguoi_ky,so_to"]
    while sum(len(r) for r in rows) * 1.3 < target:
        rows.append(
            f'{len(rows)},{rng.randint(1, 999)}/UBND,{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/'
            f'{rng.randint(1990, 2024)},"{sentence(rng)}",{person(rng)},{rng.randint(1, 300)}'
        )
    return ("\r\n".join(rows) + "\r\n").encode()


def make_html(rng: random.Random, target: int) -> bytes:
    title = escape(sentence(rng, 4, 8))
    body = []
    size = 0.0
    while size < target:
        body.append(f"<p>{escape(paragraph(rng, rng.randint(1, 5)))}</p>")
        size += len(body[-1]) * 1.25
    page = (
        f'<!DOCTYPE html>\n<html lang="vi">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n</head>\n'
        f"<body>\n<h1>{title}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    return page.encode()


# -- audio -----------------------------------------------------------------------------------------


def _tone(rng: random.Random, frames: int, width: int, channels: int, rate: int) -> bytes:
    """PCM frames: a few sine notes with a little noise, ``width`` bytes per sample, little-endian."""
    out = bytearray()
    amplitude = {1: 100, 2: 20000, 3: 20000 * 256}[width]
    while len(out) < frames * width * channels:
        freq = rng.choice([220.0, 261.6, 329.6, 392.0, 440.0, 523.3, 659.3, 880.0])
        period = max(2, round(rate / freq))
        cycle = [int(amplitude * math.sin(2 * math.pi * k / period)) for k in range(period)]
        if width == 1:
            one = bytes((128 + s) & 0xFF for s in cycle for _ in range(channels))
        elif width == 2:
            samples = array.array("h", [s for s in cycle for _ in range(channels)])
            if sys.byteorder == "big":
                samples.byteswap()
            one = samples.tobytes()
        else:
            one = b"".join((s & 0xFFFFFF).to_bytes(3, "little") for s in cycle for _ in range(channels))
        note = bytearray(one * max(1, int(rate * rng.uniform(0.1, 0.6)) // period))
        for _ in range(len(note) // 997):  # sprinkle noise so no two notes are byte-identical
            position = rng.randrange(len(note))
            note[position] = rng.randrange(256)
        out += note
    return bytes(out[: frames * width * channels])


def make_wav(rng: random.Random, target: int) -> bytes:
    rate = rng.choice([8000, 16000, 22050, 44100, 48000])
    channels = rng.choice([1, 2])
    width = rng.choice([1, 2, 2, 3])
    frames = max(64, target // (width * channels))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(_tone(rng, frames, width, channels, rate))
    return buf.getvalue()


def make_au(rng: random.Random, target: int) -> bytes:
    """Sun/NeXT audio, 16-bit linear PCM (big-endian)."""
    rate, channels = rng.choice([8000, 22050, 44100]), rng.choice([1, 2])
    frames = max(64, target // (2 * channels))
    data = array.array("h", _tone(rng, frames, 2, channels, rate))
    if sys.byteorder == "little":
        data.byteswap()
    payload = data.tobytes()
    note = b"Kho bench\x00\x00\x00"
    return struct.pack(">4sIIIII", b".snd", 24 + len(note), len(payload), 3, rate, channels) + note + payload


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def make_midi(rng: random.Random, target: int) -> bytes:
    """A format-0 Standard MIDI File with a random melody."""
    events = bytearray(b"\x00\xff\x51\x03" + struct.pack(">I", rng.randint(400_000, 700_000))[1:])
    events += b"\x00\xc0" + bytes([rng.randrange(128)])
    for _ in range(max(8, target // 8)):
        note = rng.randint(48, 84)
        events += b"\x00\x90" + bytes([note, rng.randint(40, 120)])
        events += _varlen(rng.choice([120, 240, 480])) + b"\x80" + bytes([note, 0])
    events += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(events)) + bytes(events)


# -- corpus ----------------------------------------------------------------------------------------

Maker = Callable[[random.Random, int], bytes]
FORMATS: dict[str, tuple[str, Maker]] = {
    "pdf": ("pdf", make_pdf),
    "docx": ("docx", make_docx),
    "odt": ("odt", make_odt),
    "xml": ("xml", make_xml),
    "txt": ("txt", make_txt),
    "csv": ("csv", make_csv),
    "html": ("html", make_html),
    "jpeg": ("jpg", make_jpeg),
    "png": ("png", make_png),
    "tiff": ("tif", make_tiff),
    "gif": ("gif", make_gif),
    "bmp": ("bmp", make_bmp),
    "wav": ("wav", make_wav),
    "au": ("au", make_au),
    "midi": ("mid", make_midi),
}
MIXES: dict[str, dict[str, float]] = {
    "office": {"pdf": 30, "docx": 20, "odt": 10, "xml": 12, "txt": 12, "csv": 8, "html": 8},
    "images": {"jpeg": 40, "png": 25, "tiff": 20, "gif": 10, "bmp": 5},
    "av": {"wav": 70, "au": 15, "midi": 15},
    "mixed": {
        "pdf": 20, "docx": 12, "odt": 5, "xml": 8, "txt": 9, "csv": 4, "html": 4,
        "jpeg": 14, "png": 8, "tiff": 6, "gif": 2, "bmp": 1, "wav": 5, "au": 1, "midi": 1,
    },
}  # fmt: skip
TEXT_FORMATS = {"xml", "txt", "csv", "html", "midi"}  # small by nature: capped at a quarter of the target


@dataclass
class CorpusInfo:
    """What was generated: enough to describe a benchmark's input in its results."""

    out: str
    files: int
    mix: str
    size_dist: str
    seed: int
    total_bytes: int = 0
    by_format: dict[str, int] = field(default_factory=dict)
    bytes_by_format: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> dict[str, object]:
        data = asdict(self)
        data["mean_bytes"] = round(self.total_bytes / self.files) if self.files else 0
        return data


def plan(index: int, mix: str, size_dist: str, seed: int) -> tuple[str, str, int]:
    """(format, relative path, target size) of file ``index``."""
    rng = random.Random(f"{seed}:plan:{index}")  # noqa: S311 - a reproducible corpus, not cryptography
    weights = MIXES[mix]
    kind = rng.choices(list(weights), weights=list(weights.values()))[0]
    low, high = SIZE_RANGES[size_dist]
    target = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    if kind in TEXT_FORMATS and size_dist == "large":
        target //= 4
    ext = FORMATS[kind][0]
    word = ascii_fold(rng.choice(WORDS)).lower() if rng.random() < 0.5 else nfc(rng.choice(WORDS))
    rel = f"hồ-sơ-{index // FILES_PER_FOLDER:03d}/{index:06d}-{word}.{ext}"
    return kind, nfc(rel), target


def _write_range(out: str, start: int, stop: int, mix: str, size_dist: str, seed: int) -> list[tuple[str, int]]:
    written = []
    for index in range(start, stop):
        kind, rel, target = plan(index, mix, size_dist, seed)
        data = FORMATS[kind][1](random.Random(f"{seed}:{index}"), target)  # noqa: S311 - reproducible corpus
        path = Path(out, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        written.append((kind, len(data)))
    return written


def generate(
    out: Path | str, files: int, mix: str = "mixed", size_dist: str = "small", seed: int = 1, workers: int = 0
) -> CorpusInfo:
    """Write ``files`` files under ``out`` (created); ``workers`` processes (0: one per CPU)."""
    if mix not in MIXES or size_dist not in SIZE_RANGES:
        raise ValueError(f"mix must be one of {list(MIXES)}, size_dist one of {list(SIZE_RANGES)}")
    started = time.perf_counter()
    Path(out).mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    step = max(1, min(200, files // (workers * 4) or 1))
    ranges = [(i, min(files, i + step)) for i in range(0, files, step)]
    info = CorpusInfo(out=str(out), files=files, mix=mix, size_dist=size_dist, seed=seed)
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    if workers == 1 or len(ranges) == 1:
        results = [_write_range(str(out), a, b, mix, size_dist, seed) for a, b in ranges]
    else:
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_write_range, str(out), a, b, mix, size_dist, seed) for a, b in ranges]
            results = [f.result() for f in futures]
    for chunk in results:
        for kind, size in chunk:
            counts[kind] += 1
            sizes[kind] += size
    info.by_format = dict(sorted(counts.items()))
    info.bytes_by_format = dict(sorted(sizes.items()))
    info.total_bytes = sum(sizes.values())
    info.seconds = round(time.perf_counter() - started, 3)
    return info


def write_wav_file(path: Path | str, size: int, seed: int = 1) -> int:
    """One large WAV (16-bit stereo 48 kHz) of ``size`` bytes of pseudo-random PCM; returns its size."""
    rng = random.Random(f"{seed}:large:{Path(path).name}")  # noqa: S311 - reproducible corpus
    chunk = 4 << 20
    data_bytes = max(4, (size - 44) // 4 * 4)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(48000)
        writer.setnframes(data_bytes // 4)  # header written once, no seek-back rewrite
        left = data_bytes
        while left:
            count = min(chunk, left)
            writer.writeframesraw(rng.randbytes(count))
            left -= count
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    return Path(path).stat().st_size


# -- BagIt -----------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _manifest_path(path: str) -> str:
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def make_bag(directory: Path | str, info: dict[str, str] | None = None, workers: int = 0) -> Path:
    """Turn ``directory`` into a BagIt 1.0 bag in place (payload to ``data/``, sha256 manifests)."""
    root = Path(directory)
    data = root / "data"
    if data.exists():
        raise FileExistsError(f"{data} exists: {root} looks like a bag already")
    staging = root / ".bag-payload"
    staging.mkdir()
    for entry in sorted(root.iterdir()):
        if entry != staging:
            entry.rename(staging / entry.name)
    staging.rename(data)
    payload = sorted(p for p in data.rglob("*") if p.is_file())
    rels = [p.relative_to(root).as_posix() for p in payload]
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(payload) > 64:
        with ProcessPoolExecutor(workers) as pool:
            digests = list(pool.map(_sha256, payload, chunksize=64))
    else:
        digests = [_sha256(p) for p in payload]
    oxum = f"{sum(p.stat().st_size for p in payload)}.{len(payload)}"
    fields = {
        "Source-Organization": nfc("Ủy ban nhân dân tỉnh Thừa Thiên Huế"),
        "External-Identifier": f"bench-{len(payload)}",
        "title": nfc("Hồ sơ đo hiệu năng Kho"),
        "Bagging-Date": "2024-12-30",
        **(info or {}),
        "Payload-Oxum": oxum,
        "Bag-Software-Agent": "Kho bench/corpus.py",
    }
    tags = {
        "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in fields.items()),
        "manifest-sha256.txt": "".join(f"{d}  {_manifest_path(r)}\n" for d, r in zip(digests, rels, strict=True)),
    }
    for name, text in tags.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "tagmanifest-sha256.txt").write_text(
        "".join(f"{_sha256(root / name)}  {name}\n" for name in sorted(tags)), encoding="utf-8"
    )
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--mix", choices=sorted(MIXES), default="mixed")
    parser.add_argument("--size-dist", choices=sorted(SIZE_RANGES), default="small")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per CPU)")
    parser.add_argument("--bag", action="store_true", help="make the folder a BagIt 1.0 bag afterwards")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    info = generate(args.out, args.files, args.mix, args.size_dist, args.seed, args.workers)
    if args.bag:
        make_bag(args.out)
    print(json.dumps(info.describe(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The TT 05/2025 checks of scanned pages, made before anything is built.

Every page image of a document is opened and decoded in full (a truncated JPEG decodes its header fine
and fails only on its last rows), its resolution, colour mode and bit depth compared with the profile of
the record type (``format_registry/digitisation.yaml``), and its ink counted to report blank pages. The
findings name the document, the page number and the file, in English and Vietnamese, so that the
archivist can rescan the right sheet; an OCR run that would take minutes is never started on a batch
that is going to be refused anyway.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, ImageSequence, UnidentifiedImageError

from preservation.digitise.rules import Profile, Rules

ERROR, WARNING = "error", "warning"
#: bits a pixel of Pillow's modes, for formats that do not record BitsPerSample (JPEG, PNG)
MODE_BITS = {"1": 1, "L": 8, "P": 8, "LA": 16, "PA": 16, "RGB": 24, "YCbCr": 24, "LAB": 24, "HSV": 24,
             "RGBA": 32, "RGBX": 32, "CMYK": 32, "I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32, "F": 32}
#: TIFF/Exif tags naming the scanner and its software (capture metadata)
CAPTURE_TAGS = {271: "make", 272: "model", 305: "software", 306: "datetime"}
#: files an operating system leaves in scan folders; skipped with a warning, never taken for pages
SYSTEM_FILES = {"thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class Finding:
    """One reason to refuse a document (``error``) or to look at it again (``warning``)."""

    level: str
    document: str
    en: str
    vi: str
    page: int | None = None
    source: str | None = None

    def line(self) -> str:
        where = self.document
        if self.page is not None:
            where += f", page {self.page} / trang {self.page}"
        if self.source:
            where += f" ({self.source})"
        return f"{where}: {self.en} / {self.vi}"

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "document": self.document, "page": self.page, "source": self.source,
                "message_en": self.en, "message_vi": self.vi, "text": self.line()}


@dataclass(frozen=True)
class Page:
    """One page as checked: a file, or one frame of a multi-page TIFF."""

    number: int  # 1-based, in the document
    file: Path
    source: str  # the file relative to SCANS_DIR, with "#n" for frame n (1-based) of a multi-page file
    frame: int  # 0-based frame in the file
    format: str
    width: int
    height: int
    dpi: tuple[float, float] | None
    mode: str
    bits_per_pixel: int
    ink_ratio: float
    #: what the file says about its capture (TIFF/Exif Make, Model, Software, DateTime), for PREMIS digitization
    capture: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"page": self.number, "source": self.source, "format": self.format,
                "width": self.width, "height": self.height,
                "dpi": [round(self.dpi[0], 2), round(self.dpi[1], 2)] if self.dpi else None,
                "mode": self.mode, "bits_per_pixel": self.bits_per_pixel, "ink_ratio": round(self.ink_ratio, 6),
                **({"capture": self.capture} if self.capture else {})}


@dataclass
class DocumentScan:
    """What the checks found in one document's folder."""

    label: str
    folder: Path
    profile: Profile
    files: list[Path] = field(default_factory=list)  # the page image files, in page order
    pages: list[Page] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: a page image could not be decoded: the pages counted are not the document's pages
    undecodable: bool = False

    @property
    def refused(self) -> bool:
        return any(f.level == ERROR for f in self.findings)


def natural_key(name: str) -> tuple[Any, ...]:
    """``page2.tif`` before ``page10.tif``: scanners number pages without leading zeros."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", name))


@contextlib.contextmanager
def _strict_pillow(max_pixels: int) -> Iterator[None]:
    """Truncated images fail (whatever the process set), and the decompression-bomb guard is ours."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = max(1, max_pixels // 2)  # Pillow refuses above twice this; we check the size too
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = previous


def _bits(frame: Image.Image) -> int:
    """Bits a pixel: TIFF's BitsPerSample summed over the samples (48-bit RGB is 48), else from the mode."""
    tags = getattr(frame, "tag_v2", None)
    if tags is not None and 258 in tags:
        value = tags[258]
        samples = value if isinstance(value, tuple) else (value,)
        with contextlib.suppress(TypeError, ValueError):
            total = sum(int(s) for s in samples)
            if total:
                return total
    return MODE_BITS.get(frame.mode, 0)


def _dpi(frame: Image.Image) -> tuple[float, float] | None:
    """The resolution the file records, in dots per inch (Pillow converts TIFF/JPEG/PNG centimetre and
    metre units); None when it records none, or only an aspect ratio."""
    value = frame.info.get("dpi")
    try:
        x, y = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _capture(frame: Image.Image) -> dict[str, str]:
    """Scanner make/model/software and capture time, where the file records them (never trusted for checks)."""
    try:
        exif = frame.getexif()
    except Exception:  # a broken Exif block says nothing about the page; the decode decides readability
        return {}
    found = {}
    for tag, name in CAPTURE_TAGS.items():
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip("\x00 ").strip():
            found[name] = value.strip("\x00 ").strip()[:200]
    return found


def _ink_ratio(frame: Image.Image, ink_level: int) -> float:
    """The share of pixels darker than ``ink_level`` (0 black ... 255 white)."""
    histogram = frame.convert("L").histogram()
    total = sum(histogram)
    return sum(histogram[:ink_level]) / total if total else 0.0


def _check_page(scan: DocumentScan, page: Page, rules: Rules, findings: list[Finding]) -> None:
    profile = scan.profile

    def refuse(en: str, vi: str) -> None:
        findings.append(Finding(ERROR, scan.label, en, vi, page.number, page.source))

    if page.dpi is None:
        refuse("the image records no resolution (dpi), so the TT 05/2025 minimum of "
               f"{profile.min_dpi:g} dpi cannot be checked; set it in the scanner software",
               f"ảnh không ghi độ phân giải (dpi) nên không kiểm tra được mức tối thiểu {profile.min_dpi:g} dpi "
               "theo TT 05/2025; hãy đặt độ phân giải trong phần mềm máy quét")
    elif min(round(page.dpi[0]), round(page.dpi[1])) < profile.min_dpi:
        x, y = round(page.dpi[0]), round(page.dpi[1])  # PNG records dots per metre: 150 dpi reads as 150.0124
        shown = f"{x}×{y}" if x != y else f"{x}"
        refuse(f"resolution {shown} dpi is below the minimum of {profile.min_dpi:g} dpi "
               f"[{profile.description}]",
               f"độ phân giải {shown} dpi thấp hơn mức tối thiểu {profile.min_dpi:g} dpi")
    allowed = ", ".join(profile.colour_modes)
    if page.mode not in profile.colour_modes:
        refuse(f"colour mode {page.mode} ({page.bits_per_pixel} bits a pixel) is not allowed: {allowed} "
               f"of at least {profile.min_bits_per_pixel} bits required [{profile.description}]",
               f"chế độ màu {page.mode} ({page.bits_per_pixel} bit/điểm ảnh) không đạt: cần {allowed}, tối thiểu "
               f"{profile.min_bits_per_pixel} bit")
    elif page.bits_per_pixel < profile.min_bits_per_pixel:
        refuse(f"bit depth {page.bits_per_pixel} bits a pixel is below the minimum of "
               f"{profile.min_bits_per_pixel} [{profile.description}]",
               f"độ sâu màu {page.bits_per_pixel} bit/điểm ảnh thấp hơn mức tối thiểu {profile.min_bits_per_pixel} bit")
    if page.ink_ratio <= rules.max_ink_ratio:
        findings.append(Finding(WARNING, scan.label,
                                f"the page looks blank ({page.ink_ratio:.4%} of its pixels are ink); kept, "
                                "check that it is not a scanning mistake",
                                f"trang có vẻ trống ({page.ink_ratio:.4%} điểm ảnh có mực); vẫn giữ, hãy kiểm tra "
                                "không phải lỗi khi quét", page.number, page.source))


def _open_file(scan: DocumentScan, path: Path, relname: str, rules: Rules) -> None:
    """Decode every frame of ``path``, appending its pages (and what is wrong with them) to ``scan``."""
    first = len(scan.pages) + 1

    def unreadable(en: str, vi: str, page: int | None = None, source: str = relname) -> None:
        scan.undecodable = True
        scan.findings.append(Finding(ERROR, scan.label, en, vi, page if page is not None else first, source))

    try:
        image = Image.open(path)
    except Image.DecompressionBombError as exc:
        unreadable(f"the image is too large to be checked safely: {exc}",
                   f"ảnh quá lớn, không kiểm tra an toàn được: {exc}")
        return
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        unreadable(f"the image is unreadable: {exc}", f"không đọc được ảnh: {exc}")
        return
    with image:
        if image.format not in rules.formats:
            unreadable(f"{image.format} is not an accepted page format ({', '.join(rules.formats)})",
                       f"{image.format} không phải định dạng trang được chấp nhận ({', '.join(rules.formats)})")
            return
        frames = getattr(image, "n_frames", 1)
        try:
            for index, frame in enumerate(ImageSequence.Iterator(image)):
                number = len(scan.pages) + 1
                source = f"{relname}#{index + 1}" if frames > 1 else relname
                width, height = frame.size
                if width * height > rules.max_pixels:
                    unreadable(f"the image has {width}×{height} pixels, more than the limit "
                               f"({rules.max_pixels // 1_000_000} megapixels, max_megapixels)",
                               f"ảnh có {width}×{height} điểm ảnh, vượt giới hạn "
                               f"{rules.max_pixels // 1_000_000} megapixel", number, source)
                    return
                try:
                    frame.load()
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                    unreadable(f"the image is unreadable or truncated: {exc}",
                               f"ảnh không đọc được hoặc bị cụt (thiếu dữ liệu): {exc}", number, source)
                    return
                page = Page(number=number, file=path, source=source, frame=index, format=str(image.format),
                            width=width, height=height, dpi=_dpi(frame), mode=frame.mode,
                            bits_per_pixel=_bits(frame), ink_ratio=_ink_ratio(frame, rules.ink_level),
                            capture=_capture(frame))
                scan.pages.append(page)
                _check_page(scan, page, rules, scan.findings)
        except (OSError, ValueError, EOFError) as exc:  # a frame of a multi-page TIFF that cannot be reached
            unreadable(f"the image is unreadable or truncated: {exc}",
                       f"ảnh không đọc được hoặc bị cụt (thiếu dữ liệu): {exc}", len(scan.pages) + 1)
            return
    scan.files.append(path)


def check_document(folder: Path, label: str, relfolder: str, profile: Profile, rules: Rules,
                   expected_pages: int | None) -> DocumentScan:
    """Check the page images of one document's folder (pages in natural order of their file names)."""
    scan = DocumentScan(label=label, folder=folder, profile=profile)
    names: set[str] = set()
    with _strict_pillow(rules.max_pixels):
        for entry in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
            relname = f"{relfolder}/{entry.name}"
            nfc = unicodedata.normalize("NFC", entry.name)
            if nfc in names:  # the masters are stored under NFC names: two would become one
                scan.findings.append(Finding(ERROR, label, "two files have the same name once Unicode-normalised "
                                             "(NFC): rename one", "hai tệp trùng tên sau khi chuẩn hóa Unicode (NFC): "
                                             "hãy đổi tên một tệp", source=relname))
                continue
            names.add(nfc)
            if entry.name.startswith(".") or entry.name.casefold() in SYSTEM_FILES:
                scan.findings.append(Finding(WARNING, label, "skipped: a hidden or system file, not a page",
                                             "bỏ qua: tệp ẩn hoặc tệp hệ thống, không phải trang tài liệu",
                                             source=relname))
                continue
            if entry.is_symlink() or not entry.is_file():
                scan.findings.append(Finding(ERROR, label, "not a regular file (a folder or a link): a document's "
                                             "folder holds only its page images",
                                             "không phải tệp thông thường (thư mục hoặc liên kết): thư mục của "
                                             "tài liệu chỉ chứa ảnh các trang", source=relname))
                continue
            if entry.suffix.lower() not in rules.extensions:
                scan.findings.append(Finding(ERROR, label, f"not a page image ({', '.join(rules.extensions)})",
                                             f"không phải ảnh trang tài liệu ({', '.join(rules.extensions)})",
                                             source=relname))
                continue
            _open_file(scan, entry, relname, rules)
    if not scan.pages and not scan.refused:
        scan.findings.append(Finding(ERROR, label, f"no page images in {relfolder}/",
                                     f"không có ảnh trang nào trong {relfolder}/"))
    if expected_pages is not None and not scan.undecodable and len(scan.pages) != expected_pages:
        scan.findings.append(Finding(ERROR, label,
                                     f"numberOfPage is {expected_pages} but {relfolder}/ holds {len(scan.pages)} "
                                     "pages: a page is missing or extra",
                                     f"numberOfPage là {expected_pages} nhưng {relfolder}/ có {len(scan.pages)} "
                                     "trang: thiếu hoặc thừa trang"))
    return scan

"""The digitisation quality rules (``format_registry/digitisation.yaml``), checked when loaded.

Archivists tune these thresholds (a province may demand 300 dpi for everything), so, as with
``policy.yaml``, a broken file is reported with the file, the place and the rule broken before a single
page is opened: never half-way through a batch of scans.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from format_registry.policy import DEFAULT_POLICY, SCHEMAS

DEFAULT_RULES = DEFAULT_POLICY.parent / "digitisation.yaml"
SCHEMA = SCHEMAS / "digitisation.schema.json"


class RulesError(ValueError):
    """digitisation.yaml is not usable; the message says where and why (in English and Vietnamese)."""


@dataclass(frozen=True)
class Profile:
    """What every page of one kind of record must be (TT 05/2025 Điều 8)."""

    name: str
    description: str
    min_dpi: float
    colour_modes: tuple[str, ...]
    min_bits_per_pixel: int


@dataclass(frozen=True)
class OcrOptions:
    """How OCRmyPDF is run; the defaults leave the page images as scanned (no deskew, no clean-up)."""

    language: str
    jobs: int
    timeout_seconds: float
    timeout_seconds_per_page: float
    deskew: bool
    clean: bool

    def timeout_for(self, pages: int) -> float:
        """The time one document of ``pages`` pages may take before its OCR is killed."""
        return self.timeout_seconds + self.timeout_seconds_per_page * max(1, pages)


@dataclass(frozen=True)
class Rules:
    path: Path
    formats: tuple[str, ...]
    extensions: tuple[str, ...]
    profiles: dict[str, Profile]
    record_types: dict[str, str]
    default_profile: str
    ink_level: int
    max_ink_ratio: float
    max_pixels: int
    ocr: OcrOptions

    def profile_for(self, type_name: str | None) -> Profile:
        """The profile of a document of TT 05 ``typeName`` (30 Bản đồ, 31 Bản vẽ kỹ thuật: maps-drawings)."""
        return self.profiles[self.record_types.get(type_name or "", self.default_profile)]


def load_rules(path: Path | None = None) -> Rules:
    """Read and check ``path`` (default: ``format_registry/digitisation.yaml``); RulesError when unusable."""
    path = Path(path or DEFAULT_RULES)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read / không đọc được: {exc}") from exc
    import jsonschema  # only when the rules are checked

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        raise RulesError("\n".join(f"{path}: {'/'.join(str(p) for p in e.path) or '(top)'}: {e.message}"
                                   for e in errors[:20]))
    rules: dict[str, Any] = dict(data)
    profiles = {name: Profile(name=name, description=spec["description"], min_dpi=float(spec["min_dpi"]),
                              colour_modes=tuple(spec["colour_modes"]),
                              min_bits_per_pixel=int(spec["min_bits_per_pixel"]))
                for name, spec in rules["profiles"].items()}
    named = {"default_profile": rules["default_profile"]}
    named.update({f"record_types/{code}": name for code, name in rules["record_types"].items()})
    for where, name in named.items():
        if name not in profiles:
            raise RulesError(f"{path}: {where}: profile {name!r} is not defined under profiles / "
                             f"hồ sơ quy tắc {name!r} không có trong profiles")
    ocr = rules["ocr"]
    return Rules(
        path=path,
        formats=tuple(rules["formats"]),
        extensions=tuple(ext.lower() for ext in rules["extensions"]),
        profiles=profiles,
        record_types=dict(rules["record_types"]),
        default_profile=rules["default_profile"],
        ink_level=int(rules["blank_page"]["ink_level"]),
        max_ink_ratio=float(rules["blank_page"]["max_ink_ratio"]),
        max_pixels=int(float(rules["max_megapixels"]) * 1_000_000),
        ocr=OcrOptions(language=ocr["language"], jobs=int(ocr["jobs"]), timeout_seconds=float(ocr["timeout_seconds"]),
                       timeout_seconds_per_page=float(ocr["timeout_seconds_per_page"]),
                       deskew=bool(ocr["deskew"]), clean=bool(ocr["clean"])),
    )

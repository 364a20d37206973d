"""One settings object, read from ``KHO_*`` environment variables and an optional TOML file.

Every command resolves its paths from here so that two installations (two ``KHO_HOME``s)
never share an ingest folder, a catalog or a storage location.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from format_registry.identify import DEFAULT_ENGINE, ENGINES

DIGEST_ALGORITHMS = ("sha256", "sha512")
DUPLICATE_POLICIES = ("refuse", "new-version")


class ConfigError(ValueError):
    """A setting has a value Kho cannot use; the message names the setting."""


class IdentifyOptions(TypedDict):
    """Keyword arguments of ``format_registry.identify``'s ``identify``, ``identify_many``, ``engine_info``."""

    engine: str
    siegfried_signature: str | None


@dataclass(frozen=True)
class Settings:
    home: Path
    ingest_dir: Path
    database_url: str
    storage: tuple[str, ...]
    digests: tuple[str, ...] = ("sha256",)
    duplicates: str = "refuse"
    organization: str = "Kho"
    archive_code: str = ""  # mã cơ quan lưu trữ: arcFileCode = archive_code + "." + fileCode (TT 05/2025)
    settle_seconds: float = 10.0
    resume_after_seconds: float = 300.0
    api_max_body_bytes: int = 1024 * 1024  # a request body larger than this is refused (413) unread
    clamav_db: str = ""  # ClamAV signatures (folder or file); "" = clamscan's own (/var/lib/clamav)
    zip_max_bytes: int = 256 * 1024**3  # an E-ARK ZIP unpacking to more is refused (zip-too-large)
    zip_max_entries: int = 1_000_000  # ... with more entries (zip-too-many)
    zip_max_ratio: float = 100.0  # ... unpacking to more than this times its compressed size (zip-ratio)
    sip_max_manifest_lines: int = 1_000_000  # BagIt manifest / fetch.txt lines (manifest-too-long)
    sip_max_tag_file_bytes: int = 1024 * 1024  # bagit.txt, bag-info.txt (tag-file-too-large)
    sip_max_name_bytes: int = 255  # one file or folder name, UTF-8 bytes (name-too-long)
    sip_max_path_bytes: int = 900  # a path inside the SIP, UTF-8 bytes (path-too-long): S3 keys hold 1024
    file_mode: int = 0o640  # files Kho creates (stored copies, catalog, DIPs), whatever the umask; never world bits
    dir_mode: int = 0o750  # folders Kho creates
    identify_engine: str = DEFAULT_ENGINE  # KHO_IDENTIFY_ENGINE: siegfried or fido (decision 0016)
    siegfried_signature: str = ""  # KHO_SIEGFRIED_SIGNATURE: a Siegfried .sig file; "" = the one pygfried bundles
    extra: dict[str, str] = field(default_factory=dict)

    def sip_limits(self) -> dict[str, int]:
        """The keyword arguments ``packages.sip.validate_sip`` takes for its limits."""
        return {
            "max_manifest_lines": self.sip_max_manifest_lines,
            "max_tag_file_bytes": self.sip_max_tag_file_bytes,
            "max_name_bytes": self.sip_max_name_bytes,
            "max_path_bytes": self.sip_max_path_bytes,
        }

    def identify_options(self) -> IdentifyOptions:
        """The keyword arguments ``format_registry.identify`` takes for the engine choice (``identify``,
        ``identify_many``, ``engine_info``, ``configure``): format_registry reads no settings itself."""
        return {"engine": self.identify_engine, "siegfried_signature": self.siegfried_signature or None}

    def adopt_identification(self) -> None:
        """Make this installation's engine (and signature file) this process's default for every
        identification, including those made deep inside other steps (conversion outputs, ``kho identify``).

        Cheap: the engine loads on first use. A signature file Siegfried cannot read raises
        ``format_registry.identify.IdentificationEngineError`` then, naming the file."""
        from format_registry.identify import configure

        configure(self.identify_engine, self.siegfried_signature or None)

    @property
    def workspaces_dir(self) -> Path:
        return self.home / "workspaces"

    @property
    def failed_dir(self) -> Path:
        return self.home / "failed"

    @property
    def scratch_dir(self) -> Path:
        """Temporary files of every kind (unpacked ZIPs, conversions, repairs, hand-overs)."""
        return self.home / "tmp"

    def ensure_dirs(self) -> None:
        """Create KHO_HOME's folders (``dir_mode``, whatever the umask) and make ``file_mode``/``dir_mode``
        the modes of everything this process stores (``storage_adapters.local``), ``$KHO_HOME/tmp`` its
        scratch folder and ``KHO_IDENTIFY_ENGINE`` its identification engine: this is where a process
        (an ingest, an Airflow task) takes on its installation's settings."""
        from storage_adapters import local as local_storage

        local_storage.FILE_MODE, local_storage.DIR_MODE = self.file_mode, self.dir_mode
        for path in (self.home, self.ingest_dir, self.workspaces_dir, self.failed_dir):
            local_storage.make_dirs(path)
        self.adopt_scratch_dir()
        self.adopt_identification()

    def adopt_scratch_dir(self) -> None:
        """Make ``$KHO_HOME/tmp`` (0700) this process's temporary folder, and its tools' (``TMPDIR``).

        Scratch copies of records must stay inside the installation: on its file system and quota, under
        its permissions, and never in a shared ``/tmp`` where a 1 GiB unpacked ZIP or a converted
        confidential document would outlive a crash outside ``KHO_HOME``."""
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.scratch_dir, 0o700)
        tempfile.tempdir = str(self.scratch_dir)
        os.environ["TMPDIR"] = str(self.scratch_dir)


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    section = data.get("kho", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [kho] must be a table")
    return section


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Environment wins over the TOML file (``KHO_CONFIG``, or ``$KHO_HOME/kho.toml`` when present)."""
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("KHO_HOME", "var")).expanduser().resolve()
    config_path = Path(env["KHO_CONFIG"]) if "KHO_CONFIG" in env else home / "kho.toml"
    file_values: dict[str, object] = {}
    if "KHO_CONFIG" in env and not config_path.is_file():
        raise ConfigError(f"KHO_CONFIG={config_path} does not exist")
    if config_path.is_file():
        file_values = _read_toml(config_path)

    def get(name: str, default: str) -> str:
        env_name = "KHO_" + name.upper()
        if env_name in env:
            return env[env_name]
        value = file_values.get(name, default)
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)

    ingest_dir = Path(get("ingest_dir", str(home / "ingest"))).expanduser().resolve()
    database_url = get("database_url", f"sqlite:///{home / 'catalog.sqlite'}")
    storage = tuple(u.strip() for u in get("storage", (home / "storage").as_uri()).split(",") if u.strip())
    if not storage:
        raise ConfigError("KHO_STORAGE is empty: give at least one location URL")
    digests = tuple(d.strip().lower() for d in get("digests", "sha256").split(",") if d.strip())
    unknown = [d for d in digests if d not in DIGEST_ALGORITHMS]
    if unknown:
        raise ConfigError(f"KHO_DIGESTS: unsupported {unknown}; choose from {DIGEST_ALGORITHMS}")
    if "sha256" not in digests:
        digests = ("sha256", *digests)
    duplicates = get("duplicates", "refuse")
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(f"KHO_DUPLICATES={duplicates!r}: choose one of {DUPLICATE_POLICIES}")
    try:
        settle = float(get("settle_seconds", "10"))
        resume_after = float(get("resume_after_seconds", "300"))
    except ValueError as exc:
        raise ConfigError(f"KHO_SETTLE_SECONDS / KHO_RESUME_AFTER_SECONDS must be numbers: {exc}") from exc
    try:
        api_max_body = int(get("api_max_body_bytes", str(1024 * 1024)))
        zip_max_bytes = int(get("zip_max_bytes", str(256 * 1024**3)))
        zip_max_entries = int(get("zip_max_entries", "1000000"))
        zip_max_ratio = float(get("zip_max_ratio", "100"))
        sip_limits = {
            name: int(get(name, str(default)))
            for name, default in (("sip_max_manifest_lines", 1_000_000), ("sip_max_tag_file_bytes", 1024 * 1024),
                                  ("sip_max_name_bytes", 255), ("sip_max_path_bytes", 900))
        }
    except ValueError as exc:
        raise ConfigError(f"KHO_API_MAX_BODY_BYTES, KHO_ZIP_MAX_* and KHO_SIP_MAX_* must be numbers: {exc}") from exc
    try:
        file_mode, dir_mode = int(get("file_mode", "640"), 8), int(get("dir_mode", "750"), 8)
    except ValueError as exc:
        raise ConfigError(f"KHO_FILE_MODE / KHO_DIR_MODE must be octal modes such as 640 and 750: {exc}") from exc
    if (file_mode | dir_mode) & 0o007:
        raise ConfigError("KHO_FILE_MODE / KHO_DIR_MODE may not give others any access (records are not public files)")
    identify_engine = get("identify_engine", DEFAULT_ENGINE).strip().lower()
    if identify_engine not in ENGINES:
        raise ConfigError(f"KHO_IDENTIFY_ENGINE={identify_engine!r}: choose one of {ENGINES}")
    siegfried_signature = get("siegfried_signature", "").strip()
    if siegfried_signature:
        signature_path = Path(siegfried_signature).expanduser().resolve()
        if not signature_path.is_file():
            raise ConfigError(
                f"KHO_SIEGFRIED_SIGNATURE={siegfried_signature}: no such file ({signature_path}); give the path of a "
                "Siegfried signature file (.sig, from `sf -update` or `roy build`), or unset it to use the bundled one"
            )
        siegfried_signature = str(signature_path)
    return Settings(
        home=home,
        ingest_dir=ingest_dir,
        database_url=database_url,
        storage=storage,
        digests=digests,
        duplicates=duplicates,
        organization=get("organization", "Kho"),
        archive_code=get("archive_code", ""),
        settle_seconds=settle,
        resume_after_seconds=resume_after,
        api_max_body_bytes=api_max_body,
        clamav_db=get("clamav_db", ""),
        zip_max_bytes=zip_max_bytes,
        zip_max_entries=zip_max_entries,
        zip_max_ratio=zip_max_ratio,
        sip_max_manifest_lines=sip_limits["sip_max_manifest_lines"],
        sip_max_tag_file_bytes=sip_limits["sip_max_tag_file_bytes"],
        sip_max_name_bytes=sip_limits["sip_max_name_bytes"],
        sip_max_path_bytes=sip_limits["sip_max_path_bytes"],
        file_mode=file_mode,
        dir_mode=dir_mode,
        identify_engine=identify_engine,
        siegfried_signature=siegfried_signature,
    )


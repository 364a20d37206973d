"""One settings object: every ``KHO_*`` setting, read from the environment and from a TOML file.

Why one class: settings used to be read in nine places (``os.environ`` in policy, validators, the API, the
transfer key, the fixity DAG…), so ``kho.toml`` silently did not reach half of them and no page listed
them all. Now every setting is a field of :class:`Settings` with a type, a default and a description;
README's "Settings" table is printed from those fields (``python -m preservation.config --markdown``)
and a test holds README to it.

Where values come from, the first that has one winning:

1. the environment: ``KHO_<NAME>`` (``KHO_STORAGE``, ``KHO_DIGESTS``…);
2. the TOML file ``KHO_CONFIG`` names, else ``$KHO_HOME/kho.toml`` when present: the same names in lower
   case, under ``[kho]`` (or at the top level);
3. the default.

``KHO_HOME`` and ``KHO_CONFIG`` come from the environment only: they say where the TOML file is.
A value Kho cannot use stops the command with a message naming the variable (and the file, for a value
read from it), in English and Vietnamese. The settings of ``format_registry`` (tool executables, policy
files, ICC profile) are handed down to it when settings load (``format_registry.settings``): that layer
may not import this one.

Every command resolves its paths from here so that two installations (two ``KHO_HOME``s) never share an
ingest folder, a catalog or a storage location.
"""

from __future__ import annotations

import os
import sys
import tempfile
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field, SecretStr, ValidationError, field_serializer, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from format_registry import settings as registry_settings
from format_registry.identify import DEFAULT_ENGINE, ENGINES

DIGEST_ALGORITHMS = ("sha256", "sha512")
DUPLICATE_POLICIES = ("refuse", "new-version")
ENV_PREFIX = "KHO_"
CONFIG_FILE = "kho.toml"


class ConfigError(ValueError):
    """A setting has a value Kho cannot use; the message names the setting (English / Vietnamese)."""


class IdentifyOptions(TypedDict):
    """Keyword arguments of ``format_registry.identify``'s ``identify``, ``identify_many``, ``engine_info``."""

    engine: str
    siegfried_signature: str | None


# -- how a field is declared ---------------------------------------------------------------------------


def _setting(
    default: Any = ...,
    description: str = "",
    *,
    factory: Callable[[dict[str, Any]], Any] | None = None,
    shown_default: str | None = None,
    kind: str | None = None,
    env_only: bool = False,
    validate_default: bool | None = None,
) -> Any:
    """A field with what README's table shows: ``shown_default`` where the default is computed or
    clearer in words, ``kind`` where the type's name would not tell an administrator what to write,
    ``env_only`` for the two settings that locate the TOML file."""
    given: JsonDict = {"shown_default": shown_default, "kind": kind, "env_only": env_only}
    extra: JsonDict = {k: v for k, v in given.items() if v not in (None, False)}
    if factory is not None:
        return Field(default_factory=factory, description=description, json_schema_extra=extra)
    return Field(default, description=description, json_schema_extra=extra, validate_default=validate_default)


def _home(data: dict[str, Any]) -> Path:
    home = data.get("home")
    return home if isinstance(home, Path) else Path("var").resolve()


def _blank_is_unset(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _comma_list(value: Any) -> Any:
    """``a,b`` from the environment, or a TOML list: one tuple of non-empty stripped items."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value if str(item).strip())
    return value


class Settings(BaseSettings):
    """Every setting of one Kho installation. Frozen: a process takes its settings on once."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, frozen=True, extra="ignore", validate_default=True
    )

    # -- where things are
    home: Path = _setting(
        Path("var"), "The installation's folder: ingest folder, workspaces, failed SIPs, catalog, scratch space "
        "and default storage live below it unless moved by the settings below.", kind="path", env_only=True)
    config: Path | None = _setting(
        None, "The TOML file of settings (lower-case names under `[kho]`); the environment wins over it. "
        "Read back, the file that was read.",
        shown_default="`$KHO_HOME/kho.toml` when present", kind="path", env_only=True)
    ingest_dir: Path = _setting(
        factory=lambda data: _home(data) / "ingest", description="The watched ingest folder.",
        shown_default="`$KHO_HOME/ingest`", kind="path")
    database_url: str = _setting(
        factory=lambda data: f"sqlite:///{_home(data) / 'catalog.sqlite'}",
        description="The catalog database (SQLAlchemy URL), e.g. `postgresql+psycopg://kho@db/kho`.",
        shown_default="`sqlite:///$KHO_HOME/catalog.sqlite`", kind="URL")
    storage: Annotated[tuple[str, ...], NoDecode] = _setting(
        factory=lambda data: ((_home(data) / "storage").as_uri(),),
        description="The storage locations every AIP is stored in: `file:///abs/path` and `s3://bucket/prefix` "
        "URLs, comma-separated (a TOML list in the file).", shown_default="`file://$KHO_HOME/storage`",
        kind="list of URLs")
    # -- what ingest keeps and how
    digests: Annotated[tuple[str, ...], NoDecode] = _setting(
        ("sha256",), "The digests kept for every file: `sha256`, `sha512` (SHA-256 is always kept).",
        kind="list of names")
    duplicates: Literal["refuse", "new-version"] = _setting(
        "refuse", "What to do with a byte-identical resubmission of a stored SIP.")
    organization: str = _setting("Kho", "The archive's name, as PREMIS agent and hand-over sender/receiver.")
    archive_code: str = _setting(
        "", "Mã cơ quan lưu trữ: an AIP's TT 05 `arcFileCode` is this code + \".\" + the mã hồ sơ.")
    settle_seconds: float = _setting(
        10.0, "A SIP in the ingest folder is taken once nothing in it changed for this long.")
    resume_after_seconds: float = _setting(
        300.0, "`kho resume` takes over an ingest idle this long (a DAG run between tasks is not idle).")
    clamav_db: str = _setting(
        "", "ClamAV's signature database (folder or file); empty: clamscan's own (`/var/lib/clamav`).",
        kind="path")
    identify_engine: str = _setting(
        DEFAULT_ENGINE, "The identification engine (decision 0016).",
        kind="one of " + ", ".join(f"`{engine}`" for engine in ENGINES))
    siegfried_signature: str = _setting(
        "", "A Siegfried signature file (`.sig`, from `sf -update` or `roy build`); empty: the one pygfried "
        "bundles.", kind="path")
    # -- limits (decision in README "Limits")
    api_max_body_bytes: int = _setting(1024 * 1024, "An API request body larger than this is refused (413) unread.",
                                       shown_default="`1048576` (1 MiB)")
    zip_max_bytes: int = _setting(256 * 1024**3, "An E-ARK ZIP unpacking to more is refused (`zip-too-large`).",
                                  shown_default="`274877906944` (256 GiB)")
    zip_max_entries: int = _setting(1_000_000, "An E-ARK ZIP with more entries is refused (`zip-too-many`).")
    zip_max_ratio: float = _setting(
        100.0, "An E-ARK ZIP unpacking to more than this times its compressed size is refused (`zip-ratio`).")
    sip_max_manifest_lines: int = _setting(
        1_000_000, "Lines of one BagIt manifest or `fetch.txt` (`manifest-too-long`).")
    sip_max_tag_file_bytes: int = _setting(
        1024 * 1024, "Size of `bagit.txt` or `bag-info.txt` (`tag-file-too-large`).", shown_default="`1048576` (1 MiB)")
    sip_max_name_bytes: int = _setting(255, "One file or folder name in a SIP, UTF-8 bytes (`name-too-long`).")
    sip_max_path_bytes: int = _setting(
        900, "A path inside a SIP, UTF-8 bytes (`path-too-long`): S3 keys hold 1024.")
    file_mode: int = _setting(
        0o640, "Mode of the files Kho creates (stored copies, catalog, DIPs), whatever the umask; never "
        "world bits.", shown_default="`640`", kind="octal mode", validate_default=False)
    dir_mode: int = _setting(
        0o750, "Mode of the folders Kho creates.", shown_default="`750`", kind="octal mode", validate_default=False)
    # -- format_registry: tools and policy (handed down by configure(), see format_registry.settings)
    policy: Path | None = _setting(
        None, "The format policy (YAML, checked against `schemas/policy.schema.json`).",
        shown_default="`format_registry/policy.yaml`", kind="path")
    tools: Path | None = _setting(
        None, "The tool command templates the policy names (YAML).", shown_default="`format_registry/tools.yaml`",
        kind="path")
    jhove: str | None = _setting(
        None, "The JHOVE executable (a name on PATH or a path).", shown_default="`jhove` on PATH",
        kind="executable")
    verapdf: str | None = _setting(
        None, "The veraPDF CLI that checks PDF/A copies.", shown_default="`verapdf` on PATH", kind="executable")
    ffprobe: str | None = _setting(
        None, "ffprobe, which validates audio and video.", shown_default="`ffprobe` on PATH", kind="executable")
    ffmpeg: str | None = _setting(
        None, "ffmpeg, which decodes audio and video to check them.", shown_default="`ffmpeg` on PATH",
        kind="executable")
    icc_profile: Path | None = _setting(
        None, "The sRGB ICC profile of PDF/A OutputIntents.",
        shown_default="the first Debian sRGB profile installed", kind="path")
    # -- secrets and schedules
    api_tokens: SecretStr | None = _setting(
        None, "The API's bearer tokens, `token=Name:role,…`; wins over `$KHO_HOME/api-tokens.toml` (set "
        "and empty: no tokens).",
        shown_default="unset", kind="secret")
    transfer_key: SecretStr | None = _setting(
        None, "The key (shared by the two archives) of hand-over receipts made before they were X.509-signed "
        "(HMAC-SHA256): only read, to check such legacy receipts.",
        shown_default="unset", kind="secret")
    fixity_cycle_days: int = _setting(
        30, "The daily `fixity_audit` DAG re-reads every copy once per this many days.")
    # -- publication (issue #20; docs/decisions/0025-oai-pmh-provider.md)
    oai_repository_identifier: str = _setting(
        "", "The OAI-PMH repositoryIdentifier (a domain-like name; records are `oai:<it>:<aip id>`); empty: the "
        "archive code, else the organisation, as a slug with `.kho` after it.")
    public_rate_per_second: float = _setting(
        10.0, "Requests a second one client address may make to the public endpoints (OAI-PMH) on average; "
        "beyond it HTTP 503 with Retry-After. 0: no limit.")
    public_rate_burst: int = _setting(60, "Requests one client may make at once before the rate applies.")
    oai_admin_email: str = _setting(
        "", "The e-mail address OAI-PMH `Identify` gives harvesters; empty: `admin@<repositoryIdentifier>`.")
    # -- authenticity (issue #18; docs/decisions/0022-signature-validation.md)
    trust_anchors: Path | None = _setting(
        None, "A folder of the archive's trusted root certificates (PEM or DER) that digital signatures are "
        "validated against; unset: no root is trusted, every signature is at best `indeterminate`.",
        shown_default="unset", kind="path")
    revocation_fetch: bool = _setting(
        False, "Fetch OCSP responses and CRLs over the network when validating signatures at ingest (they are "
        "then stored with the AIP); off: only the revocation data embedded in the files is used.")
    signature_policy: Literal["flag", "refuse"] = _setting(
        "flag", "A record whose signature is invalid or indeterminate: `flag` keeps it and flags the AIP for "
        "review; `refuse` rejects the SIP.")
    signing_key: Path | None = _setting(
        None, "The archive's own signing key and certificate (a PKCS#12 file) that signs hand-over receipts, "
        "event-chain checkpoints and digitised copies (`kho digitise`).", shown_default="unset", kind="path")
    signing_key_password: SecretStr | None = _setting(
        None, "The PKCS#12 file's password.", shown_default="unset", kind="secret")
    tsa_url: str = _setting(
        "", "An RFC 3161 time-stamping authority (`http(s)://…`) that timestamps AIP manifests and event-chain "
        "checkpoints; empty: nothing is timestamped (and `kho authenticity` says so).", kind="URL")

    # -- reading the values

    @field_validator("home", "ingest_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("config", "policy", "tools", "icc_profile", "jhove", "verapdf", "ffprobe", "ffmpeg",
                     "transfer_key", "trust_anchors", "signing_key", "signing_key_password", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _blank_is_unset(value)

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        value = _comma_list(value)
        if value == ():
            raise ValueError("is empty: give at least one location URL / hãy cho ít nhất một địa chỉ lưu trữ")
        return value

    @field_validator("digests", mode="before")
    @classmethod
    def _digests(cls, value: Any) -> Any:
        digests = tuple(d.lower() for d in _comma_list(value))
        unknown = [d for d in digests if d not in DIGEST_ALGORITHMS]
        if unknown:
            raise ValueError(f"unsupported {unknown}; choose from {DIGEST_ALGORITHMS} / thuật toán không hỗ trợ")
        return digests if "sha256" in digests else ("sha256", *digests)

    @field_validator("file_mode", "dir_mode", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> int:
        try:
            return int(str(value).strip(), 8)
        except ValueError:
            raise ValueError("must be an octal mode such as 640 or 750 / phải là quyền dạng bát phân, "
                             "ví dụ 640 hoặc 750") from None

    @field_serializer("file_mode", "dir_mode")
    def _octal_text(self, value: int) -> str:
        """Written as it is read (``640``), so that dumped settings load again to the same modes."""
        return f"{value:o}"

    @field_validator("identify_engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        engine = str(value).strip().lower()
        if engine not in ENGINES:
            raise ValueError(f"choose one of {ENGINES} / chọn một trong {ENGINES}")
        return engine

    @field_validator("siegfried_signature", mode="before")
    @classmethod
    def _signature(cls, value: Any) -> Any:
        given = str(value).strip()
        if not given:
            return ""
        path = Path(given).expanduser().resolve()
        if not path.is_file():
            raise ValueError(
                f"no such file ({path}); give the path of a Siegfried signature file (.sig, from `sf -update` or "
                "`roy build`), or unset it to use the bundled one / không có tệp chữ ký Siegfried này")
        return str(path)

    @model_validator(mode="after")
    def _private_modes(self) -> Settings:
        if (self.file_mode | self.dir_mode) & 0o007:
            raise ValueError("KHO_FILE_MODE / KHO_DIR_MODE may not give others any access (records are not public "
                             "files) / không được cấp quyền cho người dùng khác")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment (``load_settings``'s mapping, else ``os.environ``), then the TOML
        file (and, below it, which file that was: ``config``): no ``.env`` files or secret folders, which would
        be a third and fourth place to look."""
        environ, file_values, path = _SOURCES.get() or (os.environ, *_file_values(os.environ))
        return (init_settings, _Environment(settings_cls, environ), InitSettingsSource(settings_cls, file_values),
                InitSettingsSource(settings_cls, {"config": path} if path else {}))

    # -- what the code asks of settings

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

    def tool_settings(self) -> registry_settings.ToolSettings:
        """What ``format_registry`` needs of these settings (it may not import this module)."""
        return registry_settings.ToolSettings(
            policy=str(self.policy) if self.policy else None,
            tools=str(self.tools) if self.tools else None,
            jhove=self.jhove,
            verapdf=self.verapdf,
            ffprobe=self.ffprobe,
            ffmpeg=self.ffmpeg,
            icc_profile=str(self.icc_profile) if self.icc_profile else None,
        )

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


# -- the two sources -------------------------------------------------------------------------------------

# (environment, TOML values, TOML file) of the load_settings call under way; None: os.environ and its file
_SOURCES: ContextVar[tuple[Mapping[str, str], dict[str, Any], Path | None] | None] = ContextVar(
    "kho_settings_sources", default=None)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``load_settings(environ)``) rather than
    ``os.environ``, so that tests and the deployment code can load another installation's settings."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}  # names are case-insensitive


def env_name(name: str) -> str:
    """The environment variable of setting ``name`` (``storage`` -> ``KHO_STORAGE``)."""
    return ENV_PREFIX + name.upper()


def _config_path(environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """(the TOML file to read or None, whether KHO_CONFIG named it)."""
    if environ.get("KHO_CONFIG"):
        return Path(environ["KHO_CONFIG"]).expanduser(), True
    home = Path(environ.get("KHO_HOME", "var")).expanduser().resolve()
    default = home / CONFIG_FILE
    return (default if default.is_file() else None), False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc} / tệp cấu hình không đúng cú pháp TOML") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc} / không đọc được tệp cấu hình") from exc
    section = data.get("kho", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [kho] must be a table / [kho] phải là một bảng")
    for name in ENV_ONLY:
        if name in section:
            raise ConfigError(f"{path}: {name!r} cannot be set in the file, which it locates: set {env_name(name)} "
                              f"in the environment / {name!r} chỉ đặt được bằng biến môi trường {env_name(name)}")
    return dict(section)


def _file_values(environ: Mapping[str, str]) -> tuple[dict[str, Any], Path | None]:
    """The TOML file's settings and its path ({} and None when there is no file)."""
    path, named = _config_path(environ)
    if path is None:
        return {}, None
    if named and not path.is_file():
        raise ConfigError(f"KHO_CONFIG={path} does not exist / tệp cấu hình KHO_CONFIG không tồn tại")
    return _read_toml(path), path


@contextmanager
def _reading(environ: Mapping[str, str], file_values: dict[str, Any], path: Path | None) -> Iterator[None]:
    token = _SOURCES.set((environ, file_values, path))
    try:
        yield
    finally:
        _SOURCES.reset(token)


# -- loading, and saying what is wrong -----------------------------------------------------------------


ENV_ONLY = ("home", "config")

# pydantic's error types, said in both languages (a custom check's ValueError carries its own text)
_PROBLEMS: dict[str, Callable[[dict[str, Any]], str]] = {
    "int_parsing": lambda ctx: "must be a whole number / phải là số nguyên",
    "int_from_float": lambda ctx: "must be a whole number / phải là số nguyên",
    "float_parsing": lambda ctx: "must be a number / phải là số",
    "string_type": lambda ctx: "must be text / phải là chuỗi ký tự",
    "int_type": lambda ctx: "must be a whole number / phải là số nguyên",
    "float_type": lambda ctx: "must be a number / phải là số",
    "path_type": lambda ctx: "must be a path / phải là đường dẫn",
}


def _problem(error: Mapping[str, Any], field: FieldInfo | None) -> str:
    context = error.get("ctx") or {}
    if error["type"] == "value_error" and isinstance(context.get("error"), ValueError):
        return str(context["error"])
    if error["type"] == "literal_error" and field is not None:
        choices = tuple(typing.get_args(field.annotation))
        return f"choose one of {choices} / chọn một trong {choices}"
    explain = _PROBLEMS.get(error["type"])
    return explain(context) if explain else f"{error['msg']} / giá trị không hợp lệ"


def _explain(exc: ValidationError, environ: Mapping[str, str], file_values: dict[str, Any],
             path: Path | None) -> ConfigError:
    """One line per wrong value, naming its variable (and the TOML file when the value came from there);
    a path is shown as written, any other value quoted (so blanks show)."""
    lowered = {name.lower() for name in environ}
    lines = []
    for error in exc.errors():
        if not error["loc"]:
            lines.append(_problem(error, None))
            continue
        name = str(error["loc"][0])
        field = Settings.model_fields.get(name)
        kind = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
        given = error.get("input")
        shown = given if isinstance(given, str) and kind.get("kind") in ("path", "executable") else repr(given)
        if kind.get("kind") == "secret":
            shown = "…"  # never a token or key in a log
        if env_name(name).lower() in lowered or name not in file_values:
            lines.append(f"{env_name(name)}={shown}: {_problem(error, field)}")
        else:
            lines.append(f"{name} = {shown} in {path} ({env_name(name)}): {_problem(error, field)}")
    return ConfigError("; ".join(lines))


def read_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of the installation ``environ`` (default ``os.environ``) describes: the environment wins
    over the TOML file (``KHO_CONFIG``, or ``$KHO_HOME/kho.toml`` when present), which wins over defaults.
    Nothing else happens: for code that needs a setting it was not handed (the storage layer's hooks)."""
    env = dict(os.environ if environ is None else environ)
    file_values, path = _file_values(env)
    try:
        with _reading(env, file_values, path):
            return Settings()
    except ValidationError as exc:
        raise _explain(exc, env, file_values, path) from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """:func:`read_settings`, and ``format_registry`` handed its part (:meth:`Settings.tool_settings`):
    loading settings is where a process learns which JHOVE, veraPDF, ffprobe, policy and ICC profile its
    installation uses."""
    settings = read_settings(environ)
    registry_settings.configure(settings.tool_settings())
    return settings


# -- README's table --------------------------------------------------------------------------------------


def _type_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("kind"):
        return str(extra["kind"])
    annotation = field.annotation
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    names: dict[Any, str] = {str: "text", int: "integer", float: "number", Path: "path"}
    return names.get(annotation, str(annotation))


def _default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("shown_default"):
        return str(extra["shown_default"])
    default = field.default
    if default is None or default == "":
        return "empty"
    if isinstance(default, tuple):
        return "`" + ",".join(str(d) for d in default) + "`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def settings_markdown() -> str:
    """README's settings table, one row per field of :class:`Settings`, in declaration order."""
    rows = ["| setting | environment | `kho.toml` key | type | default | what it is |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        toml_key = "—" if extra.get("env_only") else f"`{name}`"
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | `{env_name(name)}` | {toml_key} | {_type_text(field)} | {_default_text(field)} "
                    f"| {description} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    """``python -m preservation.config --markdown``: print README's settings table."""
    if argv != ["--markdown"]:
        print("usage: python -m preservation.config --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(settings_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

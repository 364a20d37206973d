"""preservation.config: every KHO_* setting in one class, the environment over kho.toml, errors that name
the variable, README's table printed from the code, and format_registry's part handed down to it."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from format_registry import settings as registry_settings
from format_registry.policy import DEFAULT_POLICY, load_policy
from format_registry.validators.jhove import find_jhove
from preservation.config import ConfigError, Settings, env_name, load_settings, settings_markdown

ROOT = Path(__file__).resolve().parents[2]
# where KHO_* variables may be read from the environment: the settings themselves, format_registry's
# standalone fallback, the test fault switch, and the deployment launcher (variables of `make cluster`)
ENV_READERS_ALLOWED = {"preservation/config.py", "format_registry/settings.py", "preservation/faults.py"}
ENV_READ = re.compile(r"(environ\.get\(|environ\[|getenv\()\s*[\"']KHO_")


@pytest.fixture(autouse=True)
def _registry_unconfigured() -> Iterator[None]:
    """load_settings configures format_registry process-wide: every test leaves it as it found it."""
    before = registry_settings.configure(None)
    yield
    registry_settings.configure(before)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_kho_home(tmp_path: Path) -> None:
    settings = load_settings({"KHO_HOME": str(tmp_path / "home")})
    home = (tmp_path / "home").resolve()
    assert (settings.home, settings.ingest_dir) == (home, home / "ingest")
    assert settings.database_url == f"sqlite:///{home / 'catalog.sqlite'}"
    assert settings.storage == ((home / "storage").as_uri(),)
    assert (settings.digests, settings.duplicates, settings.file_mode, settings.dir_mode) == (
        ("sha256",), "refuse", 0o640, 0o750)
    assert (settings.policy, settings.jhove, settings.api_tokens, settings.transfer_key) == (None, None, None, None)
    assert settings.fixity_cycle_days == 30 and settings.config is None


def test_environment_wins_over_the_toml_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "elsewhere.toml", """
[kho]
storage = ["file:///srv/a", "file:///srv/b"]
digests = "sha512"
organization = "Chi cục Văn thư - Lưu trữ"
file_mode = 600
fixity_cycle_days = 7
transfer_key = "from-the-file"
""")
    env = {"KHO_HOME": str(tmp_path / "home"), "KHO_CONFIG": str(config)}
    from_file = load_settings(env)
    assert from_file.storage == ("file:///srv/a", "file:///srv/b")
    assert from_file.digests == ("sha256", "sha512"), "SHA-256 is always kept"
    assert (from_file.organization, from_file.file_mode, from_file.fixity_cycle_days) == (
        "Chi cục Văn thư - Lưu trữ", 0o600, 7)
    assert from_file.transfer_key is not None and from_file.transfer_key.get_secret_value() == "from-the-file"
    assert from_file.config == config

    both = load_settings({**env, "KHO_STORAGE": " file:///srv/c , ", "KHO_ORGANIZATION": "Trung tâm Lưu trữ",
                          "KHO_FIXITY_CYCLE_DAYS": "14", "kho_duplicates": "new-version"})
    assert both.storage == ("file:///srv/c",)
    assert (both.organization, both.fixity_cycle_days) == ("Trung tâm Lưu trữ", 14)
    assert both.duplicates == "new-version", "variable names are case-insensitive, as pydantic-settings reads them"
    assert both.digests == ("sha256", "sha512") and both.file_mode == 0o600, "what the environment leaves unset"


def test_kho_home_toml_is_read_without_kho_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / "kho.toml", 'organization = "top level, no [kho] table"\nidentify_engine = "FIDO"\n')
    settings = load_settings({"KHO_HOME": str(home)})
    assert (settings.organization, settings.identify_engine) == ("top level, no [kho] table", "fido")
    assert settings.config == home.resolve() / "kho.toml", "the settings say which file they came from"
    assert Settings.model_validate(settings.model_dump()) == settings


def test_direct_construction_reads_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KHO_ARCHIVE_CODE", "G09")
    _write(tmp_path / "home" / "kho.toml", '[kho]\narchive_code = "H40"\norganization = "Lưu trữ tỉnh"\n')
    settings = Settings()
    assert (settings.archive_code, settings.organization) == ("G09", "Lưu trữ tỉnh")
    assert settings == load_settings()


@pytest.mark.parametrize(("env", "names"), [
    ({"KHO_DIGESTS": "md4"}, "KHO_DIGESTS='md4': unsupported"),
    ({"KHO_SETTLE_SECONDS": "soon"}, "KHO_SETTLE_SECONDS='soon': must be a number / phải là số"),
    ({"KHO_ZIP_MAX_ENTRIES": "1.5"}, "KHO_ZIP_MAX_ENTRIES='1.5': must be a whole number"),
    ({"KHO_DUPLICATES": "merge"}, "KHO_DUPLICATES='merge': choose one of ('refuse', 'new-version')"),
    ({"KHO_FILE_MODE": "rw-r-----"}, "KHO_FILE_MODE='rw-r-----': must be an octal mode"),
    ({"KHO_FILE_MODE": "644"}, "KHO_FILE_MODE / KHO_DIR_MODE may not give others any access"),
    ({"KHO_STORAGE": " , "}, "KHO_STORAGE=' , ': is empty"),
    ({"KHO_IDENTIFY_ENGINE": "droid"}, "KHO_IDENTIFY_ENGINE='droid': choose one of"),
    ({"KHO_FIXITY_CYCLE_DAYS": "monthly"}, "KHO_FIXITY_CYCLE_DAYS='monthly': must be a whole number"),
    ({"KHO_CONFIG": "/no/such/kho.toml"}, "KHO_CONFIG=/no/such/kho.toml does not exist"),
])
def test_a_bad_value_names_its_variable_in_both_languages(tmp_path: Path, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as problem:
        load_settings({"KHO_HOME": str(tmp_path / "home"), **env})
    message = str(problem.value)
    assert message.startswith(names), message
    assert " / " in message and re.search(r"[ạ-ỹđ]", message), f"no Vietnamese half: {message}"


def test_a_bad_value_from_the_file_names_the_file_and_the_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = _write(home / "kho.toml", '[kho]\nsettle_seconds = "soon"\ntransfer_key = 73915286\n')
    with pytest.raises(ConfigError) as problem:
        load_settings({"KHO_HOME": str(home)})
    message = str(problem.value)
    assert f"settle_seconds = 'soon' in {config} (KHO_SETTLE_SECONDS): must be a number" in message
    assert f"transfer_key = … in {config} (KHO_TRANSFER_KEY)" in message and "73915286" not in message, \
        "a secret is never echoed"
    _write(home / "kho.toml", "[kho\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"KHO_HOME": str(home)})
    _write(home / "kho.toml", 'home = "/elsewhere"\n')
    with pytest.raises(ConfigError, match=r"'home' cannot be set in the file.*KHO_HOME"):
        load_settings({"KHO_HOME": str(home)})


def test_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    settings = load_settings({"KHO_HOME": str(tmp_path), "KHO_TRANSFER_KEY": "hemmelig-123",
                              "KHO_API_TOKENS": "tok-0123456789abcdefghij=A:reader"})
    assert "hemmelig-123" not in repr(settings) and "tok-0123456789" not in repr(settings)
    assert settings.api_tokens is not None and settings.api_tokens.get_secret_value().startswith("tok-")


def test_every_setting_is_typed_and_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.annotation is not None, name
        assert field.description and len(field.description) > 15, f"{name} has no description"
    table = settings_markdown()
    for name in Settings.model_fields:
        assert f"| `{name}` | `{env_name(name)}` |" in table


def test_no_kho_variable_is_read_outside_the_settings() -> None:
    """Every KHO_* the product reads goes through Settings (so kho.toml reaches it and README lists it)."""
    found = []
    for folder in ("preservation", "packages", "format_registry", "storage_adapters", "dags"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ENV_READERS_ALLOWED or relative.startswith("preservation/deploy/"):
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{relative}: {m.group(0)}" for m in ENV_READ.finditer(text)]
    assert not found, found
    fallbacks = set(registry_settings.ENVIRONMENT.values())
    assert fallbacks <= {env_name(name) for name in Settings.model_fields}, "format_registry's names are settings"


def test_readme_table_is_the_one_the_code_prints() -> None:
    printed = subprocess.run([sys.executable, "-m", "preservation.config", "--markdown"], capture_output=True,
                             text=True, check=True, cwd=ROOT, timeout=60).stdout
    assert printed == settings_markdown()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- settings table: [^\n]*-->\n(.*?)<!-- end of settings table -->", readme, re.S)
    assert match, "README has no generated settings table"
    assert match.group(1) == printed, "README's settings table drifted: paste `python -m preservation.config " \
                                      "--markdown` into it"


def test_format_registry_gets_its_settings_from_kho_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in registry_settings.ENVIRONMENT.values():
        monkeypatch.delenv(name, raising=False)
    jhove = _write(tmp_path / "bin" / "jhove-9", "#!/bin/sh\nexit 0\n")
    jhove.chmod(jhove.stat().st_mode | stat.S_IXUSR)
    policy = _write(tmp_path / "policy.yaml", DEFAULT_POLICY.read_text(encoding="utf-8"))
    home = tmp_path / "home"
    _write(home / "kho.toml", f'[kho]\njhove = "{jhove}"\npolicy = "{policy}"\nffprobe = "/opt/ff/ffprobe"\n')

    settings = load_settings({"KHO_HOME": str(home)})
    assert registry_settings.current() == settings.tool_settings()
    assert find_jhove() == str(jhove), "the validator runs the JHOVE kho.toml names"
    assert load_policy().path == policy
    assert registry_settings.value("ffprobe") == "/opt/ff/ffprobe"
    assert registry_settings.value("verapdf") is None

    load_settings({"KHO_HOME": str(tmp_path / "other")})  # another installation: nothing configured
    assert registry_settings.current() == registry_settings.ToolSettings()
    assert load_policy().path == DEFAULT_POLICY


def test_format_registry_alone_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry_settings.configure(None)
    monkeypatch.setenv("KHO_ICC_PROFILE", str(tmp_path / "srgb.icc"))
    monkeypatch.setenv("KHO_FFMPEG", "")
    assert registry_settings.value("icc_profile") == str(tmp_path / "srgb.icc")
    assert registry_settings.value("ffmpeg") is None, "empty means unset, as it always did"
    registry_settings.configure(registry_settings.ToolSettings(icc_profile="/configured.icc"))
    assert registry_settings.path("icc_profile") == Path("/configured.icc"), "configured wins over the environment"

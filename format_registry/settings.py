"""Where format_registry finds its external tools and its policy files: the only settings it reads.

Why a module of its own: ``format_registry`` sits below ``preservation`` and may not import it (the layer
contract in pyproject.toml), yet an installation sets these values once, in ``preservation.config``
(``KHO_*`` environment variables or ``kho.toml``). So ``preservation.config`` hands them down with
:func:`configure` whenever settings load, and the lookups in ``validators/{jhove,verapdf,av}.py``,
``policy.py`` and ``convert.py`` read them through :func:`value`.

A value nobody configured (``None``) falls back to the process environment, under the same ``KHO_*``
name, so ``format_registry`` used on its own (a script, a test that sets ``KHO_JHOVE``) behaves as it did
before this module existed. An empty string counts as unset, as it always did (``$KHO_JHOVE=""`` means
``jhove`` on PATH). Identification keeps its own :func:`format_registry.identify.configure`: choosing an
engine checks the choice and may load it, which is more than storing a value.

This module is a leaf: it imports nothing of ours, so every module of ``format_registry`` may import it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

# the environment variable each setting falls back to when it was not configured
ENVIRONMENT = {
    "policy": "KHO_POLICY",
    "tools": "KHO_TOOLS",
    "jhove": "KHO_JHOVE",
    "verapdf": "KHO_VERAPDF",
    "ffprobe": "KHO_FFPROBE",
    "ffmpeg": "KHO_FFMPEG",
    "icc_profile": "KHO_ICC_PROFILE",
}


@dataclass(frozen=True)
class ToolSettings:
    """What an installation configured for format_registry; ``None`` = not configured (see the module doc)."""

    policy: str | None = None  # the format policy YAML; unset: format_registry/policy.yaml
    tools: str | None = None  # the tool command templates YAML; unset: format_registry/tools.yaml
    jhove: str | None = None  # the JHOVE executable (a name on PATH or a path); unset: ``jhove``
    verapdf: str | None = None  # the veraPDF CLI; unset: ``verapdf``
    ffprobe: str | None = None  # unset: ``ffprobe``
    ffmpeg: str | None = None  # unset: ``ffmpeg``
    icc_profile: str | None = None  # the sRGB ICC profile of PDF/A OutputIntents; unset: a Debian one


_configured = ToolSettings()


def configure(settings: ToolSettings | None = None) -> ToolSettings:
    """Make ``settings`` this process's tool settings (``None``: none, every value from the environment).

    Process-wide on purpose, like ``identify.configure``: validators run deep inside steps, in worker
    threads and in pools, where no settings object is passed along."""
    global _configured
    _configured = settings if settings is not None else ToolSettings()
    return _configured


def current() -> ToolSettings:
    """The configured settings with every unset value taken from the environment (what lookups see)."""
    found = {f.name: value(f.name) for f in fields(ToolSettings)}
    return replace(_configured, **found)


def value(name: str) -> str | None:
    """The setting ``name`` (a field of :class:`ToolSettings`, or any tool name such as ``ffprobe``): the
    configured value, else ``$KHO_<NAME>``; ``None`` when neither is set or both are empty."""
    configured = getattr(_configured, name, None) if name in ENVIRONMENT else None
    if configured:
        return str(configured)
    return os.environ.get(ENVIRONMENT.get(name, f"KHO_{name.upper()}")) or None


def path(name: str) -> Path | None:
    """:func:`value` as a path (policy, tools, ICC profile)."""
    found = value(name)
    return Path(found) if found else None

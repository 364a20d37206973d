"""Reference validators that nobody here wrote, run as separate programs from their own virtual
environment (``.venv-ref``, made by ``make install`` from ``tests/reference/requirements.txt``; decision
0014 says why they do not share Kho's)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REF_BIN = Path(os.environ.get("KHO_REF_VENV", ROOT / ".venv-ref")) / "bin"


def tool(name: str) -> Path:
    """The reference program ``name`` (e.g. ``ocfl-validate.py``, ``eark-validator``). A missing one fails
    the test with how to install it: `make test` installs them, so a missing tool is a broken set-up,
    never a silent skip."""
    found = REF_BIN / name
    if found.exists():
        return found
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    pytest.fail(f"reference tool {name} not found in {REF_BIN}: run `make install` (tests/reference/requirements.txt)")

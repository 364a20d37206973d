"""The OCFL validator of the ``ocfl-py`` package (``ocfl-validate.py``), run on what Kho stored.

It is the independent check of issue 14: every stored object, on a local storage root or copied out of
an S3 bucket, must be a valid OCFL 1.1 object (or storage root) by a validator nobody here wrote.
Warnings are allowed only when listed here by code, with the reason.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.reference import tool

# ocfl-py warning codes Kho accepts, and why (none are errors):
KNOWN_WARNINGS: dict[str, str] = {
    # W001: "Implementations SHOULD use version directory names constructed without zero-padding" is met;
    # nothing listed yet: every warning the validator gives is shown and fails the test.
}
_CODE = re.compile(r"\[([EW]\d{3})\]")


def validate(path: Path) -> tuple[bool, str]:
    """Run ``ocfl-validate.py`` on a storage root or an object; (valid, its whole output)."""
    done = subprocess.run(
        [str(tool("ocfl-validate.py")), str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode == 0, done.stdout + done.stderr


def assert_valid_ocfl(path: Path) -> str:
    """Fail with the validator's own words unless ``path`` is valid OCFL without unlisted warnings."""
    ok, output = validate(path)
    assert ok and " is VALID" in output, output
    unexpected = sorted({c for c in _CODE.findall(output) if c not in KNOWN_WARNINGS})
    assert not unexpected, output
    return output

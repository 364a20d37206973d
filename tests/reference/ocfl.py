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


# Faults of the validator itself, worked around here (not hidden):
# - ocfl-py 2.1.0 `StorageRoot.validate` returns True whatever its objects' verdicts (it counts
#   good_objects but only traversal errors make it fail), and prints nothing per object: a storage
#   root with an extra file in an object's content folder "passes". So every object under a storage
#   root is also validated on its own, where the validator does report (E023 and the rest).
OBJECT_DECLARATION = "0=ocfl_object_1.1"


def validate(path: Path) -> tuple[bool, str]:
    """Run ``ocfl-validate.py`` on ``path`` and, when it is a storage root, on each object under it;
    (valid, the whole output). Every object must be reported ``is VALID``."""
    path = Path(path)
    objects = sorted(str(p.parent) for p in path.rglob(OBJECT_DECLARATION))
    targets = [str(path)] if not objects or objects != [str(path)] else []
    done = subprocess.run(
        [str(tool("ocfl-validate.py")), *targets, *objects], capture_output=True, text=True, timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    valid_objects = output.count(" is VALID")
    return done.returncode == 0 and valid_objects == len(objects), output


_OBJECT_VERDICT = re.compile(r"OCFL v\S+ Object at (.+) is (VALID|INVALID)$", re.MULTILINE)


def validate_many(roots: list[Path]) -> tuple[bool, str, list[str]]:
    """``validate`` for many storage roots in one run of the validator (its start-up costs more than a
    small object's check): (all valid without unlisted warnings, the output, the objects found invalid)."""
    roots = [Path(r) for r in roots if Path(r).is_dir()]
    objects = sorted({str(p.parent) for root in roots for p in root.rglob(OBJECT_DECLARATION)})
    if not objects:
        return True, "", []
    done = subprocess.run(
        [str(tool("ocfl-validate.py")), *(str(r) for r in roots), *objects], capture_output=True, text=True,
        timeout=1800, check=False,
    )
    output = done.stdout + done.stderr
    verdicts = dict((path, verdict) for path, verdict in _OBJECT_VERDICT.findall(output))
    bad = [o for o in objects if verdicts.get(o) != "VALID"]
    unexpected = {c for c in _CODE.findall(output) if c not in KNOWN_WARNINGS}
    return done.returncode == 0 and not bad and not unexpected, output, bad


def assert_valid_ocfl(path: Path) -> str:
    """Fail with the validator's own words unless ``path`` (a storage root or an object, with at least
    one object) is valid OCFL without unlisted warnings."""
    ok, output = validate(path)
    assert ok and " is VALID" in output, output
    unexpected = sorted({c for c in _CODE.findall(output) if c not in KNOWN_WARNINGS})
    assert not unexpected, output
    return output

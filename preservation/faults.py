"""Fault injection for crash tests: ``KHO_FAULT=<point>`` kills the process (SIGKILL) there.

Tests use it to prove that an ingest killed at any step finishes as exactly one AIP when run
again. Outside tests the variable is unset and ``checkpoint`` is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal


def checkpoint(point: str) -> None:
    if os.environ.get("KHO_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def failing(point: str) -> bool:
    """True when ``KHO_FAULT=<point>``: the step at ``point`` then fails as if storage refused it, so a test
    can show what a failure that leaves the process running (not a kill) leads to."""
    return os.environ.get("KHO_FAULT") == point

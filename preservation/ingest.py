"""Kept for the callers not moved yet: the ingest pipeline is ``preservation.pipeline``."""

from __future__ import annotations

from preservation.pipeline import *  # noqa: F403
from preservation.pipeline import __all__ as __all__

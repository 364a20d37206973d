"""Fuzz targets for Kho's parsers of untrusted packages (issue "Hostile input", part E).

``python -m tests.fuzz TARGET --seconds N`` (or ``all``) runs a target under atheris (libFuzzer);
``tests/integration/test_fuzz.py`` replays the seed corpus, the regression inputs and a few hundred deterministic
mutations in-process, and runs each target under atheris for a few seconds. See
docs/decisions/0012-fuzzing.md.

Nothing here imports the product at package import time: ``tests.fuzz.targets`` must be imported inside
``atheris.instrument_imports()`` for the product modules to be instrumented.
"""

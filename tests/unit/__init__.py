"""Unit tests: one module of the engine each, in-process (no ``kho`` subprocess), each file in seconds.

A package (this file) so that ``tests/unit/test_dip.py`` and ``tests/integration/test_dip.py`` are different modules
(``unit.test_dip`` and ``test_dip``) under pytest's default import mode.
"""

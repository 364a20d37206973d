"""The OCR benchmark's character error rate (bench/ocr.py): Levenshtein distance over NFC, whitespace-collapsed
text, so that a decomposed diacritic or a line break is not counted as an OCR error."""

from __future__ import annotations

import unicodedata

from bench.ocr import PARAGRAPHS, cer, edit_distance, normalise


def test_edit_distance() -> None:
    assert edit_distance("", "") == 0
    assert edit_distance("abc", "") == 3 and edit_distance("", "abc") == 3
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("hóa", "hoá") == 2  # two different letters, not one
    assert edit_distance("Việt", "Viet") == 1


def test_cer_ignores_layout_and_unicode_form() -> None:
    text = PARAGRAPHS[0]
    decomposed = unicodedata.normalize("NFD", text).replace(" ", "\n", 5)
    assert cer(text, decomposed) == 0.0
    assert normalise("  a \n\n b\tc ") == "a b c"
    one_wrong = text.replace("Lưu trữ", "Luu trữ", 1)
    assert abs(cer(text, one_wrong) - 100 / len(normalise(text))) < 1e-9
    assert cer(text, "") == 100.0

"""Vietnamese accent folding: how both the index and the query are written before they meet.

Readers type Vietnamese without its marks ("khanh thanh"), with them, decomposed (NFD, as some keyboards
send them) or in capitals ("UY BAN"); all must find "khánh thành" and "Ủy ban". Folding both sides the
same way (NFD, drop every combining mark, đ→d, lower-case) makes them equal. ``đ`` is a letter of its own,
not ``d`` plus a mark, so NFD leaves it and it is mapped by hand.

Text is then cut into :func:`words` (letters and digits, Unicode-aware; punctuation and ``_`` separate) and
stored space-joined, so SQLite's ``unicode61`` tokenizer and PostgreSQL's ``simple`` parser see the very
same words: the two engines cannot disagree about where a word such as ``H40.2024.01-VP`` splits.
"""

from __future__ import annotations

import re
import unicodedata

_LETTERS = str.maketrans({"đ": "d", "Đ": "D"})
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """``text`` without accents, in lower case: "Ủy ban Đồng Nai" → "uy ban dong nai"."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """The folded words of ``text`` in order: "Mã: H40.2024.01-VP" → ["ma", "h40", "2024", "01", "vp"]."""
    return _WORD.findall(fold(text))


def folded_text(*values: str) -> str:
    """Values as the index stores them: their folded words, space-joined."""
    return " ".join(w for value in values for w in words(value))

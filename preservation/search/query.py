"""The search language, small on purpose: what a reading-room reader types, parsed before it reaches SQL.

- words: ``khanh thanh`` — every word must occur (AND), anywhere the requester may search;
- phrases: ``"khánh thành"`` — the words next to each other, in order;
- fields: ``title:cầu``, ``agency:"Hà Tĩnh"``, ``fileCode:H40.2024.01-VP``, ``year:2024``.

Everything is folded (:mod:`preservation.search.fold`), so accents and case never matter. A word that folds
into several (``H40.2024.01-VP`` → h40 2024 01 vp) is a phrase, as both engines would read it. The parsed
query holds only folded words (letters and digits) and field names from :data:`FIELDS`: the index builds
its FTS5 ``MATCH`` string or ``tsquery`` from these alone, each word quoted, and passes it as a bound
parameter, so no query text can become an operator or SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from preservation.search.fold import words

#: field name as typed (folded to lower case) → the index's column for it; ``year`` is a filter, not text
FIELDS = {"title": "title", "agency": "agency", "filecode": "filecode", "year": "year"}
MAX_TERMS = 32  # a query is a few words; more is a mistake or an attempt to make the engine work hard

_TOKEN = re.compile(r'(?P<field>[^\s:"]+):"(?P<fvalue>[^"]*)"?|(?P<field2>[^\s:"]+):(?P<fvalue2>[^\s"]+)'
                    r'|"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+)')


class QueryError(ValueError):
    """The query cannot be answered (a malformed year, too many words); the message says why."""


@dataclass(frozen=True)
class Term:
    """Folded words that must all occur; next to each other and in order when ``phrase``; in ``column``
    (one of :data:`FIELDS`' columns) when given, else in any searchable column."""

    words: tuple[str, ...]
    phrase: bool = False
    column: str | None = None


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...] = ()
    years: tuple[int, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        """Nothing to match on: the query asks for every record the requester may see."""
        return not self.terms and not self.years


def _term(text: str, *, phrase: bool, column: str | None = None) -> list[Term]:
    found = words(text)
    if not found:
        return []
    if phrase or column is not None or len(found) > 1:
        return [Term(tuple(found), phrase=len(found) > 1, column=column)]
    return [Term((found[0],), column=column)]


def parse(query: str) -> ParsedQuery:
    """Parse ``query`` as the module docstring describes; unknown ``name:value`` pairs are plain words."""
    terms: list[Term] = []
    years: list[int] = []
    for match in _TOKEN.finditer(query):
        name = match.group("field") or match.group("field2")
        value = match.group("fvalue") if match.group("field") else match.group("fvalue2")
        if name is not None and value is not None:
            column = FIELDS.get(name.casefold())
            if column == "year":
                if not re.fullmatch(r"\d{4}", value.strip()):
                    raise QueryError(f"year:{value}: a year is four digits / năm gồm 4 chữ số")
                years.append(int(value))
            elif column is not None:
                terms.extend(_term(value, phrase=True, column=column))
            else:
                terms.extend(_term(f"{name} {value}", phrase=False))
        elif match.group("phrase") is not None:
            terms.extend(_term(match.group("phrase"), phrase=True))
        else:
            terms.extend(_term(match.group("word") or "", phrase=False))
    if len(terms) + len(years) > MAX_TERMS:
        raise QueryError(f"at most {MAX_TERMS} words or fields / tối đa {MAX_TERMS} từ hoặc trường")
    if len(set(years)) > 1:
        raise QueryError("one year at a time / mỗi lần một năm")
    return ParsedQuery(tuple(terms), tuple(sorted(set(years))))

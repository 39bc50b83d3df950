"""The countries a customer can live in, named in the shop's language.

One list for both halves: the page offers exactly the countries the backend
accepts, and the confirmation shows the name the page showed.
"""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache

from babel import Locale

#: Territory codes Babel knows that are not countries a customer lives in.
NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})


@lru_cache(maxsize=64)
def countries(locale: str) -> tuple[tuple[str, str], ...]:
    """(ISO code, name in ``locale``) for every country, sorted as a reader expects."""
    names = Locale.parse(locale.replace("-", "_")).territories
    pairs = [(code, name) for code, name in names.items() if code in country_codes()]
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[1])))


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166 alpha-2 codes (Babel's two-letter territories, less groupings like EU)."""
    return frozenset(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code.isupper() and code not in NOT_COUNTRIES
    )


def _sort_key(name: str) -> str:
    """Sort 'Åland Islands' with the A's: compare letters without their accents."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

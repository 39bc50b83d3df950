"""kljourney: the journey files of a shop, loaded into one validated model.

The core of keylight. ``klbuild`` (the pages) and ``klcheckout`` (the backend)
read the shop only through it; it imports neither.
"""

from .errors import ConfigError, Problem
from .loader import LoadCache, load
from .shop import Shop

__all__ = ["ConfigError", "LoadCache", "Problem", "Shop", "load"]

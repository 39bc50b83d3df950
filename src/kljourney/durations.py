"""How long something took, written as a person says it: the funnel's median time to order.

One wording for the studio and for ``klcheckout report funnel``, so the two never
disagree about what "4 min 10 s" means.
"""

from __future__ import annotations


def spoken(seconds: float | None) -> str:
    """'42 s', '4 min 10 s', '2 h 5 min', '3 d 4 h': as precise as a person needs; '-' for None."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"

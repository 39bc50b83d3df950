"""The studio: journeys made and changed in the browser, part of ``klbuild serve`` only.

It edits the same files a developer edits (``documents``, ``edits``, ``fields``),
lets each change through only when the model accepts it (``studio``), answers
only this machine by its own name (``guard``) and draws how each journey
performs (``chart``). ``views`` holds its pages. A built site never contains it.
"""

from .guard import Guard
from .studio import Studio
from .views import PREFIX, create_app

__all__ = ["PREFIX", "Guard", "Studio", "create_app"]

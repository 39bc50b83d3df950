"""Hooks: what a journey tells other systems, and what it asks them.

- ``events``: recording an event in the outbox, in the transaction of what it reports;
- ``outbox`` and ``delivery``: sending it at least once (webhooks, emails, Python functions);
- ``signing``: the signature on everything sent, and ``verify`` for receivers;
- ``validation``: validate hooks, asked before a step is accepted;
- ``startup``: what the hooks need to work, checked when the backend starts.
"""

from .signing import SIGNATURE_HEADER, sign, verify


class HookFailed(Exception):
    """A delivery or a validate call that did not work; the message is for operators."""


__all__ = ["SIGNATURE_HEADER", "HookFailed", "sign", "verify"]

"""Server-Sent Events for live reload: one publisher (the builder), many open pages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

#: Seconds between comments on an idle stream, so proxies and browsers keep it open.
KEEPALIVE = 15.0


class Events:
    """Broadcasts build events to every connected page.

    Each event gets a number; a stream remembers the last number it sent, so an
    event published while a page was between two reads is still delivered.
    """

    def __init__(self, history: int = 50) -> None:
        self._condition = threading.Condition()
        self._events: list[tuple[int, str, str]] = []
        self._history = history
        self._next = 1
        self._closed = False

    def publish(self, name: str, data: dict[str, Any]) -> None:
        with self._condition:
            self._events.append((self._next, name, json.dumps(data)))
            del self._events[: -self._history]
            self._next += 1
            self._condition.notify_all()

    def close(self) -> None:
        """End every stream (on shutdown), so no thread waits forever."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def stream(self, first: dict[str, Any]) -> Iterator[bytes]:
        """The body of one ``text/event-stream`` response, starting with a ``hello``."""
        with self._condition:
            seen = self._next - 1
        yield _format("hello", json.dumps(first))
        while True:
            with self._condition:
                self._condition.wait_for(
                    lambda seen=seen: self._closed or self._next - 1 > seen, KEEPALIVE
                )
                if self._closed:
                    return
                fresh = [event for event in self._events if event[0] > seen]
                if fresh:
                    seen = fresh[-1][0]
            if not fresh:
                yield b": keepalive\n\n"
            for _, name, data in fresh:
                yield _format(name, data)


def _format(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()

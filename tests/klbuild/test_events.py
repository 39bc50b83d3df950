"""The live-reload event stream."""

from __future__ import annotations

import threading

from klbuild.events import Events


def test_stream_starts_with_hello_then_delivers_each_event() -> None:
    events = Events()
    stream = events.stream({"build": 3})
    assert next(stream) == b'event: hello\ndata: {"build": 3}\n\n'
    events.publish("reload", {"build": 4})
    events.publish("reload", {"build": 5})
    assert next(stream) == b'event: reload\ndata: {"build": 4}\n\n'
    assert next(stream) == b'event: reload\ndata: {"build": 5}\n\n'


def test_a_waiting_stream_wakes_up_on_publish() -> None:
    events = Events()
    stream = events.stream({})
    next(stream)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(next(stream)))
    reader.start()
    events.publish("problems", {"summary": "1 error"})
    reader.join(timeout=2)
    assert received == [b'event: problems\ndata: {"summary": "1 error"}\n\n']


def test_close_ends_every_stream() -> None:
    events = Events()
    stream = events.stream({})
    next(stream)
    events.close()
    assert list(stream) == []

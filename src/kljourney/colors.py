"""Colours a shop brands its pages with, and whether text on them can be read.

WCAG 2 defines the contrast of two colours from their relative luminance; level AA
asks 4.5:1 for body text. A brand colour carries white text (buttons, the current
step) and stands as text on the white page (links), so it must reach 4.5:1
against white either way.
"""

from __future__ import annotations

import re

#: WCAG 2, level AA, for text of normal size.
AA_TEXT = 4.5
WHITE = "#ffffff"
HEX = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


def normal(color: str) -> str:
    """``#1A4FA0`` or ``#14a`` as ``#1a4fa0``; ValueError for anything else."""
    if not HEX.fullmatch(color):
        raise ValueError(f"expected a colour such as '#1a4fa0', got {color!r}")
    digits = color[1:].lower()
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return "#" + digits


def _channels(color: str) -> tuple[int, int, int]:
    digits = normal(color)[1:]
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(color: str) -> float:
    """WCAG's relative luminance: 0 for black, 1 for white."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _channels(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """WCAG's contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def darkened(color: str, against: str = WHITE, ratio: float = AA_TEXT) -> str:
    """The same hue made darker, step by step, until it reaches ``ratio`` against
    ``against``: what to suggest instead of a colour that is too light."""
    red, green, blue = _channels(color)
    for percent in range(100, -1, -2):
        shade = "#" + "".join(f"{round(c * percent / 100):02x}" for c in (red, green, blue))
        if contrast(shade, against) >= ratio:
            return shade
    return "#000000"


def readable_on_white(color: str, role: str) -> str:
    """``color`` normalised, or ValueError saying its contrast and a darker shade to use."""
    color = normal(color)
    found = contrast(color, WHITE)
    if found < AA_TEXT:
        raise ValueError(
            f"{role} {color} has a contrast of {found:.1f}:1 with white; WCAG AA asks "
            f"{AA_TEXT}:1 for text, so it could not be read. Choose a darker colour, "
            f"such as {darkened(color)}"
        )
    return color

"""The example shop (``journeys/``) as tests copy it: whole, or the self-service journey alone.

Tests about the mechanics of loading and building count the self-service journey's
pages; the example's other journeys (and the account page their ``[account]``
table turns on) are tested where they are about (``test_example.py``, the
subscription tests).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "journeys"
#: The example's journeys besides self-service.toml.
OTHER_JOURNEYS = (
    "segments.toml",
    "change-plan.toml",
    "cancel.toml",
    "pause.toml",
    "come-back.toml",
    "assisted-order.toml",
    "sales-quote.toml",
)


def copy_self_service(target: Path) -> Path:
    """The shop and its self-service journey only, without ``[account]`` and without
    ``[brand]`` (the plain look the mechanics tests read; the brand is tested where it
    is about), in ``target``."""
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(*OTHER_JOURNEYS))
    shop_file = target / "keylight.toml"
    text = shop_file.read_text(encoding="utf-8")
    text = re.sub(r"\n# How the pages look.*?\n(?=\n)", "\n", text, flags=re.S)
    shop_file.write_text(re.sub(r"\n# The journeys behind.*", "\n", text, flags=re.S))
    return target

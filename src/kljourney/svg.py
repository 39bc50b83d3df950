"""SVG pictures the shop publishes (a logo, an icon, a product's picture) hold no script.

An SVG is a document: opened at its own address it runs its ``<script>`` and its
``onload=`` on the shop's origin, where the customer's cookie is. The pages show
pictures with ``<img>``, which runs nothing, so a picture needs none of it: a file
with any is refused rather than cleaned, and the person who made it is told why.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

#: Elements that run script or embed another document.
ACTIVE_ELEMENTS = {"script", "foreignobject", "iframe", "embed", "object"}
#: Links a picture may have: to its own parts, or to a picture inside it.
SAFE_LINKS = ("#", "data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp")


def problem(path: Path) -> str | None:
    """Why the SVG at ``path`` is no plain picture, or None when it is one."""
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return "it declares a DOCTYPE or entities, which a picture does not need"
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        return f"it is not well-formed XML ({error})"
    for element in root.iter():
        name = _local(element.tag)
        if name in ACTIVE_ELEMENTS:
            return f"it contains a <{name}> element"
        for attribute, value in element.attrib.items():
            attribute = _local(attribute)
            if attribute.startswith("on"):
                return f"it has an event handler ({attribute}=)"
            if attribute == "href" and not value.strip().lower().startswith(SAFE_LINKS):
                return f"it links to {value.strip()[:60]!r}"
    return None


def _local(name: str) -> str:
    """``{http://www.w3.org/2000/svg}script`` as ``script``."""
    return name.rsplit("}", 1)[-1].lower()

"""Markdown written in journey files, turned into HTML that is safe to put in a page.

Product descriptions and order-done messages are written by marketers, not
developers: they get emphasis, links and lists, and nothing that can run script
or restyle the page. Whatever the Markdown produces passes through nh3 first.
"""

from __future__ import annotations

from functools import lru_cache

import markdown as _markdown
import nh3
from markupsafe import Markup

#: The tags Markdown may produce in a page; everything else is stripped.
ALLOWED_TAGS = frozenset({"p", "em", "strong", "a", "ul", "ol", "li", "code", "br"})
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_converter = _markdown.Markdown(output_format="html")


@lru_cache(maxsize=4096)
def markdown(text: str) -> Markup:
    """Render ``text`` as sanitised HTML; cached, since many journeys share a description."""
    html = _converter.reset().convert(text)
    clean = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
    )
    return Markup(clean)

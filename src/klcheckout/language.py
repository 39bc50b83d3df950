"""The language the backend answers in: the language of the page the customer is on.

A page in a language other than the shop's default sends ``lang=en-GB`` with
each request (its forms' addresses carry it, the page script adds it), so
refusals, the pages rendered for browsers without JavaScript, redirects back to
the pages and the emails a request sends all speak the customer's language.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request

from kljourney import Shop, i18n


def requested(shop: Shop) -> str:
    """The shop's language named by the request's ``lang``, else the shop's default."""
    wanted = request.args.get("lang", "").replace("_", "-").lower()
    for locale in shop.site.languages:
        if locale.lower() == wanted:
            return locale
    return shop.site.locale


def choose(app: Flask) -> None:
    """Answer this request in the language it asks for (``before_request``)."""
    loaded = app.extensions["keylight"]
    locale = requested(loaded.shop)
    g.keylight_language = locale
    i18n.speak(locale, loaded.folders)


def current_shop() -> Shop:
    """The shop in the language of this request: its texts, and its pages' addresses."""
    shop: Shop = current_app.extensions["keylight"].shop
    return shop.in_language(g.get("keylight_language", shop.site.locale))

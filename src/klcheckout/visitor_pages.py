"""``GET API/KEY/pages/STEP/``: a step's page for a browser that runs no JavaScript.

The static pages are complete only with their page script, which fetches the
visitor's state and adds the security token to every form. A browser without
JavaScript is sent here instead (by a ``<noscript>`` refresh on every page but
the product pages, which must stay crawlable and offer a link): the backend
renders the very same template with the very same state (``page_state``), and
the forms of that page lead back to these pages (``Visit.backend_pages``).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, request

from kljourney.i18n import N_
from kljourney.i18n import gettext as _
from kljourney.pages import Visitor

from . import conditions, page_state, security
from .visit import Visit, begin

bp = Blueprint("pages", __name__)

#: Shown when a form of a static page arrived without the page script's token
#: (translated where used).
NO_SCRIPT = N_(
    "Your browser did not run the shop's page script, so nothing was changed. "
    "This page works without it: please choose again."
)


@bp.get("/<key>/pages/<step_id>/")
def page(key: str, step_id: str) -> Response:
    visit = begin(key, changes_state=False)
    step = visit.step(step_id)
    entry = entry_from_referrer(visit)
    if request.args.get("subscription"):  # the account page links here without script
        entry = {**entry, "subscription": request.args["subscription"][:64]}
    page_state.bind_subscription(visit, entry)
    page_state.keep_entry(visit, entry)
    state = page_state.state_of(visit, step)
    if "redirect" in state:
        return Response(status=303, headers={"Location": state["redirect"]})
    messages = list(state["messages"])
    if request.args.get("notice") == "no-script":
        messages.insert(0, _(NO_SCRIPT))
    visitor = Visitor(
        csrf_token=state["csrf_token"],
        cart=state["cart"],
        customer=state["customer"],
        values=state["values"],
        shown=state["shown"],
        errors=state["errors"],
        messages=messages,
        payment=state["payment"],
        order=state["order"],
        skipped=state["skipped"],
        confirm_token=secrets.token_hex(16),
        subscription=state.get("subscription"),
        handover=state.get("handover"),
    )
    renderer = visit.app.extensions["keylight"].renderer().in_language(visit.shop.site.locale)
    html = renderer.page_for(visit.journey, step, visitor)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.page_csp(visit.shop.site)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def entry_from_referrer(visit: Visit) -> dict[str, str]:
    """The query the journey was entered with (``?segment=business``), as far as the static
    page that sent the browser here passed it on: its address, sent as the referrer."""
    referrer = request.headers.get("Referer", "")
    if "?" not in referrer or not security.from_own_page(visit.app, request):
        return {}
    return conditions.parse_entry(referrer.split("?", 1)[1].split("#", 1)[0])

"""Error answers: a clear message for people, JSON for the page script, never a traceback.

Unexpected errors are logged with the request id (which the customer also sees)
and nothing from the request body or cookies, so no password, IBAN or cookie
ends up in a log.
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from kljourney import Shop
from kljourney.i18n import N_
from kljourney.i18n import gettext as _

from . import language, security
from .security import Forbidden

#: What a sane X-Request-Id from a proxy looks like (it goes into logs as it is).
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: The title of an error page, by status (translated where used, ``title``).
TITLES = {
    400: N_("The request could not be read"),
    403: N_("Request refused"),
    404: N_("Not found"),
    410: N_("This link no longer works"),
    405: N_("Not allowed"),
    413: N_("Too much data"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
}
#: The title of an error page of a status not in ``TITLES``.
ERROR = N_("Error")

#: What an error page says, by status, where the error does not say it itself (translated
#: where used). A 404 says what was not found (the step, the journey).
MESSAGES = {
    400: N_("The form could not be read. Please go back, reload the page and try again."),
    404: N_("There is nothing at this address. Check the address."),
    405: N_("This address does not accept that kind of request."),
    413: N_("The form sent more data than the shop accepts."),
    500: N_("Something went wrong on our side. Please try again in a moment."),
}


def title(status: int) -> str:
    """The title of the error page of ``status``, in the language of this request."""
    return _(TITLES.get(status, ERROR))


def message_for(error: HTTPException) -> str:
    """What the error page of ``error`` says, in the language of this request: the
    description it was raised with when one was given on purpose (already translated),
    else this module's message, else the title."""
    status = error.code or 500
    own = error.description if error.description != type(error).description else None
    if status == 404 and own:
        return own
    if status in MESSAGES:
        return _(MESSAGES[status])
    return own or title(status)


def reference() -> str:
    """This request's reference in the log and in its error answer (and X-Request-Id).

    A proxy's own X-Request-Id is kept when it is sane, so both logs tell the same
    story; otherwise one is made up. Only made when something is logged: an answer
    that went well has no use for one.
    """
    found = g.get("request_id")
    if found is None:
        sent = request.headers.get("X-Request-Id", "")
        found = g.request_id = sent if REQUEST_ID.match(sent) else secrets.token_hex(8)
    return found


def stylesheet() -> str | None:
    """The shop's stylesheet; an error page must not fail for want of it (a broken theme)."""
    try:
        return current_app.extensions["keylight"].renderer().asset_urls["css"]
    except Exception:  # noqa: BLE001 - the page is still readable unstyled
        current_app.logger.exception("error page: the shop's stylesheet cannot be found")
        return None


def back_to_the_shop(shop: Shop) -> str:
    """Where the customer came from, as far as the request says: the step's page (or
    the journey's first), else the shop's home. The backend may be on another
    origin than the pages, where the browser's back button is no help."""
    journey = shop.journeys.get(str((request.view_args or {}).get("key", "")))
    if journey is None or not journey.active_steps:
        return shop.site.pages_url
    if journey.about_subscription and shop.account:
        # A subscription journey is entered from the account page, where one signs in.
        return shop.site.account_url
    step_id = (request.view_args or {}).get("step_id")
    if step_id is None and request.method == "POST":
        try:
            step_id = request.form.get("step")
        except HTTPException:  # the body itself was the problem (too large, unreadable)
            step_id = None
    step = journey.step(str(step_id)) if step_id else None
    step = step or journey.active_steps[0]
    if request.args.get("page") == "backend" or request.blueprint == "pages":
        return shop.site.backend_page_url(journey, step)
    return shop.site.page_url(journey, step)


def answer(status: int, message: str, sign_in_url: str | None = None) -> Response:
    from .responses import wants_json

    request_id = reference()
    if wants_json():
        body = {
            "ok": False,
            "error": message,
            "errors": {"_form": message},
            "request_id": request_id,
        }
        if sign_in_url:
            body["sign_in_url"] = sign_in_url
        response = jsonify(body)
    else:
        shop = language.current_shop()
        response = Response(
            render_template(
                "keylight_error.html",
                title=title(status),
                message=message,
                request_id=request_id,
                site=shop.site,
                back=back_to_the_shop(shop),
                sign_in_url=sign_in_url,
                stylesheet=stylesheet(),
            ),
            mimetype="text/html",
        )
        # The shop's own stylesheet, from wherever its pages are published.
        response.headers["Content-Security-Policy"] = security.page_csp(shop.site)
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(Forbidden)
    def forbidden(error: Forbidden) -> Response:
        app.logger.info("refused [%s]: %s", reference(), error.message)
        return answer(403, error.message, error.sign_in_url)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.response is not None:  # an answer made on purpose (``abort(response)``)
            return error.response  # type: ignore[return-value]
        status = error.code or 500
        if status >= 500:
            app.logger.error("error %s [%s]", status, reference())
        return answer(status, message_for(error))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return http_error(error)
        app.logger.exception("unexpected error [%s]", reference())
        return answer(
            500,
            _(
                "Something went wrong on our side. Please try again in a moment. "
                "(reference %(reference)s)"
            )
            % {"reference": reference()},
        )

    del forbidden, unexpected

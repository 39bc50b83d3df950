"""``create_app``: the checkout backend, built the Flask-tutorial way.

The loaded journeys live in ``app.extensions["keylight"]`` (a ``LoadedShop``);
``use_shop`` swaps them after a rebuild and the next request reads the new
model. Routes sit at the app's root; ``mount`` puts them under the site's
``api_url`` path, where the pages call them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from kljourney import Shop, i18n

from . import db, errors, language, ratelimit, security, settings, step_views
from .hooks import startup
from .loaded_shop import LoadedShop


def create_app(test_config: dict[str, Any] | None = None, *, shop: Shop | None = None) -> Flask:
    """The checkout app, configured from ``KEYLIGHT_*`` variables, then ``test_config``."""
    config = settings.from_env()
    config.update(test_config or {})
    settings.finish(config)
    app = Flask("klcheckout", instance_path=config["KEYLIGHT_INSTANCE"])
    app.config.update(config)
    i18n.install(app.jinja_env)
    app.session_interface = NoSession()
    # The pages read the answers' keys by name; sorting them cost every answer a sort
    # of each of its objects.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.wsgi_app = security.StaticHeaders(app.wsgi_app, security.secure_headers(app))  # type: ignore[method-assign]
    if app.config["KEYLIGHT_TRUSTED_PROXIES"]:
        hops = app.config["KEYLIGHT_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    if app.config["KEYLIGHT_ENV"] == "production":
        app.logger.setLevel(logging.INFO)

    loaded = app.extensions["keylight"] = LoadedShop(
        app.config["KEYLIGHT_JOURNEYS"], shop, app.config["KEYLIGHT_TEMPLATES"]
    )
    startup.check_settings(app, loaded.shop)
    _check_account_links(app, loaded.shop)
    _check_pages_origin(app, loaded.shop)
    app.extensions["keylight_db"] = db.open_database(app.config["KEYLIGHT_DATABASE_URL"])
    app.extensions["keylight_step_views"] = step_views.StepViews(app.extensions["keylight_db"])

    ratelimit.init_app(app)
    errors.init_app(app)

    from . import (
        account_page,
        account_views,
        cart_views,
        handover_views,
        health,
        invitations,
        page_state,
        quote_views,
        staff_sign_in,
        steps,
        visitor_pages,
    )

    app.register_blueprint(page_state.bp)
    app.register_blueprint(visitor_pages.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(steps.bp)
    app.register_blueprint(cart_views.bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(account_page.bp)
    app.register_blueprint(invitations.bp)
    app.register_blueprint(staff_sign_in.bp)
    app.register_blueprint(handover_views.bp)
    app.register_blueprint(quote_views.bp)

    @app.before_request
    def preflight() -> Response | None:
        language.choose(app)
        if request.method == "OPTIONS":  # CORS preflight; headers added below
            return Response(status=204)
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        visit = g.get("keylight_visit")
        if visit is not None:
            visit.set_cookie(response)
        security.cors_headers(app, request, response)
        if "request_id" in g:  # something was logged about this request: its reference
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def release(_error: BaseException | None) -> None:
        visit = g.get("keylight_visit")
        if visit is not None:
            visit.close()

    return app


def _check_account_links(app: Flask, shop: Shop) -> None:
    """The account page emails sign-in links, which must lead to this shop whatever Host
    a request names: production wants the shop's address in ``base_url`` (or ``api_url``)."""
    site = shop.site
    if app.config["KEYLIGHT_ENV"] != "production" or not shop.account:
        return
    if "://" not in site.base_url and "://" not in site.api_url:
        raise settings.SettingsError(
            "keylight.toml: [account] emails sign-in links, so base_url must be the shop's "
            'absolute address, such as base_url = "https://shop.example.com/"'
        )


def _check_pages_origin(app: Flask, shop: Shop) -> None:
    """Pages on another origin must be allowed to post here: production refuses to
    start without it, development warns."""
    problem = security.pages_origin_problem(app.config, shop.site)
    if problem and app.config["KEYLIGHT_ENV"] == "production":
        raise settings.SettingsError(problem)
    if problem:
        app.logger.warning("%s", problem)


def use_shop(app: Flask, shop: Shop) -> None:
    """Serve ``shop`` from the next request on (the dev server calls this after a build).

    A shop whose Python hooks cannot run is refused with ``SettingsError`` and the
    old one stays in service.
    """
    app.extensions["keylight"].set_shop(shop)


def mount(app: Flask) -> Any:
    """A WSGI app serving ``app`` under the site's api_url path (and nothing else)."""
    path = app.extensions["keylight"].shop.site.api_path
    if not path:
        return app
    return DispatcherMiddleware(NotFound(), {path: app})


class NoSession(SecureCookieSessionInterface):
    """Flask's own session cookie is not used (the cart cookie is ``cart.py``'s), so it is
    not opened on every request either."""

    def open_session(self, app: Flask, request: Any) -> Any:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None

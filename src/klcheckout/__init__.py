"""klcheckout: the checkout backend behind a journey's static pages.

``create_app`` builds the Flask app the Flask-tutorial way. The loaded journeys
live in ``app.extensions["keylight"]`` (a ``ShopHolder``): the dev server calls
its ``set_shop(shop)`` or ``reload()`` after a rebuild, and the next request
uses the new model. Routes sit at the app's root; ``mount`` puts them under the
site's ``api_url`` path for serving next to the pages.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from kljourney import Shop

from . import db, errors, hooks, ratelimit, security, settings
from .holder import ShopHolder


def create_app(test_config: dict[str, Any] | None = None, *, shop: Shop | None = None) -> Flask:
    """The checkout app, configured from ``KEYLIGHT_*`` variables, then ``test_config``."""
    config = settings.from_env()
    config.update(test_config or {})
    settings.finish(config)
    app = Flask(__name__, instance_path=config["KEYLIGHT_INSTANCE"])
    app.config.update(config)
    app.session_interface = NoSession()
    app.wsgi_app = security.StaticHeaders(app.wsgi_app, security.secure_headers(app))  # type: ignore[method-assign]
    if app.config["KEYLIGHT_TRUSTED_PROXIES"]:
        hops = app.config["KEYLIGHT_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    if app.config["KEYLIGHT_ENV"] == "production":
        app.logger.setLevel(logging.INFO)

    app.extensions["keylight"] = ShopHolder(app.config["KEYLIGHT_JOURNEYS"], shop)
    hooks.check_functions(app.extensions["keylight"].shop)
    _check_hook_settings(app)
    app.extensions["keylight_db"] = db.open_database(app.config["KEYLIGHT_DATABASE_URL"])

    ratelimit.init_app(app)
    hooks.init_app(app)
    errors.init_app(app)

    from . import state, steps
    from .steps import authentication, products

    app.register_blueprint(state.bp)
    app.register_blueprint(steps.bp)
    app.register_blueprint(products.bp)
    app.register_blueprint(authentication.bp)

    @app.before_request
    def preflight() -> Response | None:
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


def _check_hook_settings(app: Flask) -> None:
    """A hook that cannot work stops a production start; in development it is a warning."""
    problems = hooks.missing_settings(app.extensions["keylight"].shop, app.config)
    if problems and app.config["KEYLIGHT_ENV"] == "production":
        raise settings.SettingsError("hooks cannot work: " + "; ".join(problems))
    for problem in problems:
        app.logger.warning("%s (until then, its deliveries fail)", problem)


class NoSession(SecureCookieSessionInterface):
    """Flask's own session cookie is not used (the cart cookie is ``cart.py``'s), so it is
    not opened on every request either."""

    def open_session(self, app: Flask, request: Any) -> Any:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def mount(app: Flask) -> Any:
    """A WSGI app serving ``app`` under the site's api_url path (and nothing else)."""
    path = app.extensions["keylight"].shop.site.api_path
    if not path:
        return app
    return DispatcherMiddleware(NotFound(), {path: app})

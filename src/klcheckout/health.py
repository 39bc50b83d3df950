"""``GET API/healthz``: whether this backend process can serve, for load balancers."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 (and no detail for strangers) when it does not."""
    try:
        with current_app.extensions["keylight_db"].connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        current_app.logger.exception("health check: the database does not answer")
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok"}), 200

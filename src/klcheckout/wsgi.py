"""The WSGI entry point for production servers: ``klcheckout.wsgi:application``.

Serves the backend under the site's api_url path (``/api`` by default), the
way the pages call it when a reverse proxy forwards that path unchanged.
"""

from __future__ import annotations

from . import create_app, mount

app = create_app()
application = mount(app)
